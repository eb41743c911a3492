//! Random load balancing among the available TURN endpoints (Expressway's rule).

use std::fmt;

use rand::Rng;

use super::table::{EndpointId, Health, TurnServerTable};

/// Why a call is offered no TURN server.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoTurnOffer {
    /// "Offer TURN services" is off on the Microsoft Lync B2BUA.
    OfferTurnServicesOff,
    /// No B2BUA TURN server is configured.
    NoServersConfigured,
    /// Every configured combination is marked down by health probing, or was already tried for
    /// this call.
    NoneAvailable {
        /// How many combinations are configured.
        configured: usize,
    },
}

impl fmt::Display for NoTurnOffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OfferTurnServicesOff => f.write_str("Offer TURN services is off"),
            Self::NoServersConfigured => f.write_str("no B2BUA TURN servers are configured"),
            Self::NoneAvailable { configured } => write!(
                f,
                "none of the {configured} configured TURN address/port combinations is available"
            ),
        }
    }
}

/// Picks the TURN endpoint to offer on one call: uniformly at random among the endpoints that
/// are [`Health::Up`] and not in `exclude` (the ones already tried for this call, when failing
/// over).
pub fn select<R: Rng + ?Sized>(
    table: &TurnServerTable,
    offer_turn_services: bool,
    exclude: &[EndpointId],
    rng: &mut R,
) -> Result<EndpointId, NoTurnOffer> {
    if !offer_turn_services {
        return Err(NoTurnOffer::OfferTurnServicesOff);
    }
    if table.is_empty() {
        return Err(NoTurnOffer::NoServersConfigured);
    }
    let available = || {
        table
            .iter()
            .filter(|(id, _, health)| *health == Health::Up && !exclude.contains(id))
            .map(|(id, _, _)| id)
    };
    let count = available().count();
    if count == 0 {
        return Err(NoTurnOffer::NoneAvailable {
            configured: table.len(),
        });
    }
    let pick = rng.random_range(0..count);
    // `pick < count`, the number of items the same iterator yields.
    Ok(available().nth(pick).expect("pick is below the count"))
}
