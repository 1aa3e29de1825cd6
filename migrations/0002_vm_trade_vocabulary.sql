-- The market's one vocabulary (docs/economics.md, "Buyers, sellers and
-- prices"): VMs are what is traded. The seller gives the VMs (they leave
-- its host), the buyer takes them (they arrive on its host), and the buyer
-- pays the seller `price_micro`; a negative price means the seller pays the
-- buyer to take them.
--
-- Ledgers written before this migration named the parties after the
-- capacity they traded: their buyer was the host the VMs left, and it paid
-- the price. Swapping the two names, the side each ledger's owner is on,
-- and the sign of the price says the same trade in the new words; the
-- credits a settlement moved are the same, so balances stay as they are.
--
-- Terms never change once agreed: the guard is lifted for this one
-- rewrite (the migration runs in one transaction) and put back as it was.
DROP TRIGGER trades_terms_frozen;

UPDATE trades
SET buyer = seller,
    seller = buyer,
    our_side = CASE our_side WHEN 'buyer' THEN 'seller' ELSE 'buyer' END,
    price_micro = -price_micro;

CREATE TRIGGER trades_terms_frozen BEFORE UPDATE OF
    trade_id, interaction_id, protocol_name, protocol_hash, buyer, seller,
    our_side, cpu_millicores, memory_mib, network_mbps, price_micro, agreed_at_ms
ON trades
BEGIN
    SELECT RAISE(ABORT, 'the terms of a recorded trade never change');
END;
