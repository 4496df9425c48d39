-- Tamper evidence (store/src/chain): every event's hash in its stream's chain, and each
-- stream's last hash for the next append. Filled at append; the events of a log written before
-- this are chained once, at the next start, by the chain upgrade, which records itself in the
-- log (`LogChainUpgraded` in stream `log-chain`).
ALTER TABLE events ADD COLUMN hash TEXT;
ALTER TABLE streams ADD COLUMN hash TEXT;
