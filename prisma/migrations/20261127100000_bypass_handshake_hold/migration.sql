-- A VIP's handshake hold (bypass.handshakeHoldMs, 0 = off): its backends keep a new connection's SYN-ACK
-- to an agent host up to this long, until the client is bypassed.
ALTER TABLE "Vip" ADD COLUMN "bypassHandshakeHoldMs" INTEGER NOT NULL DEFAULT 0;
