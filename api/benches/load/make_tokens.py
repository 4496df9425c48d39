"""N distinct tokens, one per line: local HS256 ones signed with a data directory's secret, or
ES256 ones from local-issuer (optionally naming a person, whose name and e-mail the service
then seals under a key of their own). Used by tokens.sh."""
import base64, hashlib, hmac, http.client, json, sys, time

kind, n, out, source = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


run = time.time_ns()
tokens = []
if kind == "local":
    secret = open(source).read().strip().encode()
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    now = int(time.time())
    for i in range(n):
        claims = {"sub": f"bench-{run}-{i}", "orgs": [], "roles": ["admin"], "iat": now, "exp": now + 3600}
        body = b64(json.dumps(claims).encode())
        sig = b64(hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest())
        tokens.append(f"{head}.{body}.{sig}")
else:
    person = kind == "oidc-person"
    issuer = http.client.HTTPConnection(source)
    for i in range(n):
        query = f"sub=bench-{run}-{i}&role=admin"
        if person:
            query += f"&name=Person%20{i}&email=p{run}-{i}@example.no"
        issuer.request("GET", f"/token?{query}")
        tokens.append(issuer.getresponse().read().decode())
open(out, "w").write("\n".join(tokens) + "\n")
