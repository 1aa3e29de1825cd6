//! Overcommit and measured-use policies (`scenarios/policies/replay-market.toml`):
//! reservations may exceed the hardware, and how full a host is comes from
//! what its VMs were measured to use.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod economics_support;

use economics_support::policy;
use market::host::{Host, HostId};
use market::policy::{Classification, Policy};
use market::resources::{Dimension, Resources};
use market::valuation::{Refusal, Valuer};
use market::vm::{Vm, VmId};

/// A one-core VM of 870 MiB measured at `used` millicores.
fn vm(n: u64, used: u64) -> Vm {
    Vm {
        id: VmId(n),
        name: format!("vm{n}"),
        reserved: Resources::new(1000, 870, 0),
        used: Resources::new(used, 870, 0),
        group: None,
    }
}

/// A two-core, 4 GiB host running `vms`.
fn host(vms: Vec<Vm>) -> Host {
    Host {
        id: HostId(1),
        name: "g4".into(),
        capacity: Resources::new(2000, 4096, 1000),
        vms,
        load_one: 0.0,
    }
}

#[test]
fn overcommit_admits_reservations_beyond_the_hardware() {
    let full = host(vec![vm(1, 100), vm(2, 100)]);
    let strict = policy("seed001-power-saving");
    let valuer = Valuer::new(&strict, &full).unwrap();
    assert_eq!(
        valuer.value_of_taking(&vm(3, 100)),
        Err(Refusal::NoRoom(Dimension::Cpu))
    );
    let market = policy("replay-market");
    assert_eq!(market.capacity(&full), Resources::new(16_000, 4096, 1000));
    assert_eq!(market.usable(&full), Resources::new(2000, 4096, 1000));
    let valuer = Valuer::new(&market, &full).unwrap();
    assert!(valuer.value_of_taking(&vm(3, 100)).is_ok());
    // Eight cores' worth of reservations per core, no more.
    let many = host((1..=16).map(|n| vm(n, 10)).collect());
    let valuer = Valuer::new(&market, &many).unwrap();
    assert_eq!(
        valuer.value_of_taking(&vm(17, 10)),
        Err(Refusal::NoRoom(Dimension::Cpu))
    );
}

#[test]
fn measured_use_decides_how_full_a_host_is() {
    let market = policy("replay-market");
    let classify = |used: &[u64]| {
        let vms = used
            .iter()
            .enumerate()
            .map(|(i, &u)| vm(i as u64 + 1, u))
            .collect();
        market.classify_host(&host(vms)).unwrap()
    };
    // 10 % busy: give everything away and be switched off.
    assert_eq!(classify(&[100, 100]), Classification::Overloaded);
    // 60 %: take more.
    assert_eq!(classify(&[600, 600]), Classification::Underloaded);
    // 80 %: full, content.
    assert_eq!(classify(&[800, 800]), Classification::Satisfied);
    // 95 %: shed load before the CPU saturates.
    assert_eq!(classify(&[950, 950]), Classification::Overloaded);
}

#[test]
fn a_busy_host_values_a_vm_that_fills_it_and_refuses_to_pay_for_saturation() {
    let market: Policy = policy("replay-market");
    let filling = host(vec![vm(1, 600), vm(2, 600)]);
    let valuer = Valuer::new(&market, &filling).unwrap();
    let fills = valuer.value_of_taking(&vm(3, 200)).unwrap();
    assert!(
        fills.0 > 0,
        "a host at 60 % pays for a VM that fills it: {fills}"
    );
    let near_full = host(vec![vm(1, 800), vm(2, 800)]);
    let valuer = Valuer::new(&market, &near_full).unwrap();
    let saturates = valuer.value_of_taking(&vm(3, 400)).unwrap();
    assert!(
        saturates.0 < 0,
        "a host at 80 % must be paid to go to 100 %: {saturates}"
    );
    // The saturated host pays to be rid of load: its best offer gains.
    let hot = host(vec![vm(1, 950), vm(2, 950)]);
    let offer = Valuer::new(&market, &hot).unwrap().best_offer().unwrap();
    assert!(offer.ask.0 < 0, "{offer:?}");
}
