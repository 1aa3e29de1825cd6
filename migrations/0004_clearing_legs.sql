-- Trades of several legs (docs/ledger.md, "Trades of several legs"): a
-- double-auction round can clear a swap (two VMs exchanged) or a chain
-- (A gives to B, B to C, ...) as one trade. Each leg is a trade of its
-- own in `trades` (one VM, one seller, one buyer, its own price), in the
-- ledgers of its two parties; this table lists every leg of the clearing,
-- in the order the legs move, in the ledger of every party of any leg, so
-- each party knows the whole trade and an audit can compare them.
--
-- A party records all of its legs and the whole list in one transaction,
-- before anything moves. Existing ledgers gain the empty table; their
-- trades are unchanged.
CREATE TABLE clearing_legs (
    clearing_id TEXT NOT NULL CHECK (length(clearing_id) > 0),
    leg INTEGER NOT NULL CHECK (leg >= 1),
    legs INTEGER NOT NULL CHECK (legs >= 1 AND leg <= legs),
    trade_id TEXT NOT NULL UNIQUE CHECK (length(trade_id) > 0),
    seller TEXT NOT NULL CHECK (length(seller) > 0),
    buyer TEXT NOT NULL CHECK (length(buyer) > 0 AND buyer <> seller),
    vm_uuid TEXT NOT NULL CHECK (length(vm_uuid) > 0),
    recorded_at_ms INTEGER NOT NULL,
    PRIMARY KEY (clearing_id, leg)
);

CREATE TRIGGER clearing_legs_no_update BEFORE UPDATE ON clearing_legs
BEGIN
    SELECT RAISE(ABORT, 'the legs of a recorded clearing never change');
END;
CREATE TRIGGER clearing_legs_no_delete BEFORE DELETE ON clearing_legs
BEGIN
    SELECT RAISE(ABORT, 'the legs of a recorded clearing never change');
END;
