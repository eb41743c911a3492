//! TURN server selection: random load balancing over every available address/port combination.

use rand::SeedableRng;
use rand::rngs::StdRng;
use twoleg_core::config::ValidConfig;
use twoleg_core::turn::{EndpointId, Health, NoTurnOffer, select};

fn config_with_servers(count: usize) -> ValidConfig {
    let servers: Vec<String> = (0..count)
        .map(|i| {
            format!(
                r#"{{"address":"127.0.0.{}","description":"server {i}","username":"alice","password":"secret"}}"#,
                i + 2
            )
        })
        .collect();
    let text = format!(
        r#"{{"lync_b2bua":{{"enabled":true,"offer_turn_services":true}},"turn_servers":[{}]}}"#,
        servers.join(",")
    );
    ValidConfig::from_json(&text).expect("valid")
}

/// Pearson's chi-square statistic of observed counts against a uniform expectation.
fn chi_square(counts: &[u64]) -> f64 {
    let total: u64 = counts.iter().sum();
    let expected = total as f64 / counts.len() as f64;
    counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum()
}

#[test]
fn three_servers_are_chosen_uniformly() {
    let config = config_with_servers(3);
    let table = config.turn_servers();
    let mut rng = StdRng::seed_from_u64(0x7475_726e);
    let mut counts = [0_u64; 3];
    for _ in 0..10_000 {
        let id = select(table, true, &[], &mut rng).expect("an offer");
        counts[id.0] += 1;
    }
    // Critical value of chi-square with 2 degrees of freedom at p = 0.001.
    let statistic = chi_square(&counts);
    assert!(
        statistic < 13.816,
        "counts {counts:?}, chi-square {statistic}"
    );
    assert!(counts.iter().all(|&c| c > 3_000), "{counts:?}");
}

#[test]
fn every_combination_of_a_large_deployment_is_a_choice() {
    let config = ValidConfig::from_json(twoleg_core::config::EXAMPLE_CONFIG).unwrap();
    let table = config.turn_servers();
    let mut rng = StdRng::seed_from_u64(7);
    let mut counts = vec![0_u64; table.len()];
    for _ in 0..14_000 {
        counts[select(table, true, &[], &mut rng).unwrap().0] += 1;
    }
    // Seven combinations: critical value with 6 degrees of freedom at p = 0.001.
    let statistic = chi_square(&counts);
    assert!(
        statistic < 22.458,
        "counts {counts:?}, chi-square {statistic}"
    );
}

#[test]
fn one_server_is_always_chosen() {
    let config = config_with_servers(1);
    let mut rng = StdRng::seed_from_u64(1);
    for _ in 0..1_000 {
        assert_eq!(
            select(config.turn_servers(), true, &[], &mut rng),
            Ok(EndpointId(0))
        );
    }
}

#[test]
fn no_servers_means_no_offer_with_the_reason() {
    let config = config_with_servers(0);
    let mut rng = StdRng::seed_from_u64(1);
    let no_offer = select(config.turn_servers(), true, &[], &mut rng).unwrap_err();
    assert_eq!(no_offer, NoTurnOffer::NoServersConfigured);
    assert_eq!(no_offer.to_string(), "no B2BUA TURN servers are configured");
}

#[test]
fn offer_turn_services_off_means_no_offer() {
    let config = config_with_servers(3);
    let mut rng = StdRng::seed_from_u64(1);
    assert_eq!(
        select(config.turn_servers(), false, &[], &mut rng),
        Err(NoTurnOffer::OfferTurnServicesOff)
    );
}

#[test]
fn servers_marked_down_or_already_tried_are_left_out() {
    let config = config_with_servers(3);
    let mut table = config.turn_servers().clone();
    table.set_health(EndpointId(1), Health::Down);
    let mut rng = StdRng::seed_from_u64(3);
    for _ in 0..500 {
        let id = select(&table, true, &[EndpointId(0)], &mut rng).unwrap();
        assert_eq!(id, EndpointId(2));
    }
    assert_eq!(
        select(&table, true, &[EndpointId(0), EndpointId(2)], &mut rng),
        Err(NoTurnOffer::NoneAvailable { configured: 3 })
    );
    table.set_health(EndpointId(1), Health::Up);
    assert_eq!(
        select(&table, true, &[EndpointId(0), EndpointId(2)], &mut rng),
        Ok(EndpointId(1))
    );
}

#[test]
fn the_same_seed_gives_the_same_choices() {
    let config = config_with_servers(5);
    let draw = |seed| {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..100)
            .map(|_| {
                select(config.turn_servers(), true, &[], &mut rng)
                    .unwrap()
                    .0
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(draw(42), draw(42));
    assert_ne!(draw(42), draw(43));
}
