"""The sync protocol shared by agent and cloud: HMAC signing, wire format, hash chain, uploader."""
