//! A minimal Server-Sent Events reader for tests: frames on blank lines, keeps `id`, `event`
//! and `data`, skips comments (heartbeats) and `retry:`.

use futures::StreamExt;
use futures::stream::BoxStream;

#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: serde_json::Value,
}

pub struct SseClient {
    bytes: BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
    pub retry: Option<u64>,
}

impl SseClient {
    pub async fn connect(
        client: &reqwest::Client,
        url: &str,
        token: &str,
        last_event_id: Option<&str>,
    ) -> (u16, Option<SseClient>) {
        let mut req = client.get(url).bearer_auth(token);
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        if status != 200 {
            return (status, None);
        }
        assert_eq!(r.headers()["content-type"], "text/event-stream");
        assert_eq!(r.headers()["cache-control"], "no-cache");
        (
            status,
            Some(SseClient {
                bytes: r.bytes_stream().boxed(),
                buffer: String::new(),
                retry: None,
            }),
        )
    }

    /// The next event; panics if the stream ends first.
    pub async fn next(&mut self) -> SseEvent {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, None, String::new());
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    } else if let Some(v) = line.strip_prefix("retry:") {
                        self.retry = v.trim().parse().ok();
                    }
                }
                if data.is_empty() {
                    continue; // a heartbeat comment or the retry line
                }
                return SseEvent {
                    id,
                    event,
                    data: serde_json::from_str(&data).unwrap(),
                };
            }
            let chunk = self.bytes.next().await.expect("the stream ended").unwrap();
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}
