-- Placements (docs/ledger.md, "Placements"): a new VM started on a host at
-- an operator's request (`market place`). It is a trade of its own kind:
-- the buyer is the host that starts the VM, the seller the operator who
-- asked (no host: no ledger of the seller's, no source to migrate from),
-- and the price is what the host pays the operator for taking the VM
-- (negative: the operator pays the host to run it).
--
-- Every trade recorded before this migration moved a running VM between
-- two hosts, so existing rows become migrations.
--
-- The kind is one of the agreed terms, so the guard that freezes terms is
-- put back with it.
DROP TRIGGER trades_terms_frozen;

ALTER TABLE trades ADD COLUMN kind TEXT NOT NULL DEFAULT 'migration'
    CHECK (kind IN ('migration', 'placement'));

CREATE TRIGGER trades_terms_frozen BEFORE UPDATE OF
    trade_id, interaction_id, protocol_name, protocol_hash, buyer, seller,
    our_side, cpu_millicores, memory_mib, network_mbps, price_micro, agreed_at_ms,
    kind
ON trades
BEGIN
    SELECT RAISE(ABORT, 'the terms of a recorded trade never change');
END;
