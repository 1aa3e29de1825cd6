-- The ledger of one bidder: the trades it agreed, how their migrations went,
-- the credits they moved, and an append-only log of every change.
-- See docs/ledger.md for the lifecycle and the durability contract.

-- Whose ledger this is: exactly one row, written when the file is created.
CREATE TABLE ledger_owner (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    host TEXT NOT NULL CHECK (length(host) > 0),
    created_at_ms INTEGER NOT NULL
);

-- One row per trade, keyed by the id both parties share.
-- The buyer buys capacity from the seller: the VM moves from the buyer's
-- host to the seller's host and the buyer pays the seller `price_micro`.
CREATE TABLE trades (
    trade_id TEXT PRIMARY KEY NOT NULL CHECK (length(trade_id) > 0),
    interaction_id TEXT NOT NULL,
    protocol_name TEXT NOT NULL,
    protocol_hash TEXT NOT NULL,
    buyer TEXT NOT NULL CHECK (length(buyer) > 0),
    seller TEXT NOT NULL CHECK (length(seller) > 0 AND seller <> buyer),
    our_side TEXT NOT NULL CHECK (our_side IN ('buyer', 'seller')),
    cpu_millicores INTEGER NOT NULL CHECK (cpu_millicores >= 0),
    memory_mib INTEGER NOT NULL CHECK (memory_mib >= 0),
    network_mbps INTEGER NOT NULL CHECK (network_mbps >= 0),
    price_micro INTEGER NOT NULL,
    state TEXT NOT NULL
        CHECK (state IN ('agreed', 'migrating', 'settled', 'failed', 'rolled_back')),
    reason TEXT,
    agreed_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
CREATE INDEX trades_by_state ON trades (state);

-- The VMs a trade moves, in the order the parties listed them.
CREATE TABLE trade_vms (
    trade_id TEXT NOT NULL REFERENCES trades (trade_id),
    position INTEGER NOT NULL CHECK (position >= 0),
    vm_uuid TEXT NOT NULL CHECK (length(vm_uuid) > 0),
    vm_name TEXT NOT NULL,
    PRIMARY KEY (trade_id, position),
    UNIQUE (trade_id, vm_uuid)
);
CREATE INDEX trade_vms_by_vm ON trade_vms (vm_uuid);

-- Every attempt to carry out a trade's migration. Crash recovery reads the
-- open attempt (ended_at_ms IS NULL) to know what was under way.
CREATE TABLE migration_attempts (
    trade_id TEXT NOT NULL REFERENCES trades (trade_id),
    attempt INTEGER NOT NULL CHECK (attempt >= 1),
    method TEXT NOT NULL CHECK (method IN ('live', 'handoff')),
    source TEXT NOT NULL,
    destination TEXT NOT NULL,
    started_at_ms INTEGER NOT NULL,
    ended_at_ms INTEGER,
    outcome TEXT CHECK (outcome IN ('succeeded', 'failed', 'interrupted')),
    reason TEXT,
    PRIMARY KEY (trade_id, attempt),
    CHECK ((ended_at_ms IS NULL) = (outcome IS NULL))
);

-- Credit balances in micro-credits: one row for the owner and one per
-- counterparty. Balances start at 0 and may go negative; every settlement
-- adds the same amount to one row and subtracts it from another, so the
-- rows of one ledger always sum to zero.
CREATE TABLE credit_balances (
    host TEXT PRIMARY KEY NOT NULL,
    balance_micro INTEGER NOT NULL DEFAULT 0
);

-- Append-only log of every change, in the order it was committed.
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    trade_id TEXT NOT NULL REFERENCES trades (trade_id),
    at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX events_by_trade ON events (trade_id, seq);

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'the ledger event log is append-only: UPDATE refused');
END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'the ledger event log is append-only: DELETE refused');
END;
CREATE TRIGGER trades_no_delete BEFORE DELETE ON trades
BEGIN
    SELECT RAISE(ABORT, 'trades are never deleted from a ledger');
END;
CREATE TRIGGER trade_vms_no_change BEFORE UPDATE ON trade_vms
BEGIN
    SELECT RAISE(ABORT, 'the VMs of a recorded trade never change');
END;
CREATE TRIGGER trade_vms_no_delete BEFORE DELETE ON trade_vms
BEGIN
    SELECT RAISE(ABORT, 'the VMs of a recorded trade never change');
END;
CREATE TRIGGER attempts_no_delete BEFORE DELETE ON migration_attempts
BEGIN
    SELECT RAISE(ABORT, 'migration attempts are never deleted from a ledger');
END;
-- Terms never change once agreed; only state, reason and updated_at move.
CREATE TRIGGER trades_terms_frozen BEFORE UPDATE OF
    trade_id, interaction_id, protocol_name, protocol_hash, buyer, seller,
    our_side, cpu_millicores, memory_mib, network_mbps, price_micro, agreed_at_ms
ON trades
BEGIN
    SELECT RAISE(ABORT, 'the terms of a recorded trade never change');
END;
