//! Bad policy files are refused with the key path and the reason.

use market::policy::{Policy, PolicyError};

fn refused(text: &str) -> PolicyError {
    match Policy::from_toml(text) {
        Ok(p) => panic!("accepted: {p:?}"),
        Err(e) => e,
    }
}

#[test]
fn an_unknown_key_is_refused_with_its_key_path() {
    let e = refused(
        r#"
[policy]
name = "x"
[[policy.condition]]
metric = "load_one"
overloaded_abov = 1.5
"#,
    );
    assert_eq!(e.path(), "policy.condition[0].overloaded_abov", "{e}");
    let text = e.to_string();
    assert!(text.contains("unknown field `overloaded_abov`"), "{text}");
    assert!(text.contains("line 6"), "{text}");
}

#[test]
fn an_unknown_metric_is_refused() {
    let e = refused(
        "[policy]\nname = \"x\"\n[[policy.condition]]\nmetric = \"temperature\"\noverloaded_above = 1\n",
    );
    assert_eq!(e.path(), "policy.condition[0].metric", "{e}");
    assert!(
        e.to_string().contains("unknown variant `temperature`"),
        "{e}"
    );
}

#[test]
fn a_negative_capacity_is_refused() {
    let e = refused("[policy]\nname = \"x\"\n[policy.headroom]\nmemory_mib = -512\n");
    assert_eq!(
        e,
        PolicyError::Invalid {
            path: "policy.headroom.memory_mib".into(),
            reason: "a capacity cannot be negative (got -512)".into()
        }
    );
}

#[test]
fn thresholds_in_the_wrong_order_are_refused() {
    let e = refused(
        "[policy]\nname = \"x\"\n[[policy.condition]]\nmetric = \"load_one\"\nunderloaded_below = 1.5\noverloaded_above = 0.5\n",
    );
    assert_eq!(e.path(), "policy.condition[0].overloaded_above");
    assert!(
        e.to_string()
            .contains("must be above the underloaded threshold"),
        "{e}"
    );
    // Equal thresholds leave no satisfied state either: the file must say `target`.
    let e = refused(
        "[policy]\nname = \"x\"\n[[policy.condition]]\nmetric = \"vm_count\"\nunderloaded_below = 3\noverloaded_above = 3\n",
    );
    assert!(e.to_string().contains("target = 3"), "{e}");
}

#[test]
fn other_nonsense_is_refused_with_a_path() {
    let cases = [
        ("[policy]\nname = \"\"\n", "policy.name"),
        (
            "[policy]\nname = \"x\"\n[[policy.condition]]\nmetric = \"load_one\"\n",
            "policy.condition[0]",
        ),
        (
            "[policy]\nname = \"x\"\n[[policy.condition]]\nmetric = \"vm_count\"\ntarget = 3\noverloaded_above = 4\n",
            "policy.condition[0].target",
        ),
        (
            "[policy]\nname = \"x\"\n[policy.power_budget]\nidle_watts = 200\nwatts_per_core = 10\nbudget_watts = 100\n",
            "policy.power_budget.budget_watts",
        ),
        (
            "[policy]\nname = \"x\"\n[policy.power_saving]\nshed_below = 0.8\nfull_above = 0.2\n",
            "policy.power_saving.full_above",
        ),
        (
            "[policy]\nname = \"x\"\n[policy.agility]\ntarget_share = 1.5\ntolerance = 0.1\n",
            "policy.agility.target_share",
        ),
        (
            "[policy]\nname = \"x\"\n[policy.stability]\nhold_observations = 0\n",
            "policy.stability.hold_observations",
        ),
        (
            "[policy]\nname = \"x\"\n[policy.stability]\nmigration_credits_per_gib = -1\n",
            "policy.stability.migration_credits_per_gib",
        ),
        ("[policy]\nname = \"x\"\nfoo = 1\n", "policy.foo"),
        ("[polcy]\nname = \"x\"\n", "polcy"),
        ("[policy\n", "."),
    ];
    for (text, path) in cases {
        let e = refused(text);
        assert_eq!(e.path(), path, "{text:?} -> {e}");
    }
}

#[test]
fn every_shipped_policy_file_loads() {
    let dir = format!("{}/../scenarios/policies", env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            Policy::from_toml(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            n += 1;
        }
    }
    assert!(n >= 11, "only {n} policy files in {dir}");
}
