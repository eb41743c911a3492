//! Media encryption policy per leg (Expressway's zone modes): the form of the offers TwoLeg
//! writes on a leg, what it takes from an offer a leg sends, and whether a leg's answer meets
//! the policy. The rules are the table of the README's "Media encryption policy" section.

use twoleg_srtp::{Crypto, Suite};

use super::sdp::{MediaSection, SessionDescription};
use crate::config::MediaEncryptionMode;

/// How an offer carries (or does not carry) SRTP in one media section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OfferForm {
    /// `RTP/SAVP` with `a=crypto`: SRTP or nothing.
    Savp,
    /// RFC 8643 opportunistic SRTP: `RTP/AVP` with `a=crypto`.
    Osrtp,
    /// `RTP/AVP` without crypto: clear RTP.
    Plain,
}

/// A media encryption policy a leg's offer or answer cannot meet: the call is refused (488) or
/// ended, and this is recorded as why.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum PolicyViolation {
    /// A Force encrypted leg offered no crypto TwoLeg can use.
    #[error("media encryption is required on this leg and the offer has no usable a=crypto")]
    EncryptionRequired,
    /// A Force unencrypted leg offered SRTP only.
    #[error("media encryption is forbidden on this leg and the offer is SRTP only")]
    EncryptionForbidden,
    /// An SRTP-only offer named no suite TwoLeg speaks.
    #[error("the SRTP offer has no crypto suite TwoLeg speaks")]
    NoCommonSuite,
    /// Microsoft's `a=encryption:` cannot be met by the leg's mode.
    #[error("Encryption Levels not compatible")]
    EncryptionLevelsIncompatible,
    /// Nothing in the offer can be relayed (no RTP media section with a port).
    #[error("the offer has no RTP media TwoLeg can relay")]
    NoMedia,
    /// A leg TwoLeg offered SRTP only to answered without crypto.
    #[error("the answer has no crypto for a leg where encryption is required")]
    AnswerWithoutCrypto,
    /// An answer picked a crypto line TwoLeg did not offer, or asked for SRTP where TwoLeg
    /// offered clear RTP.
    #[error("the answer's crypto does not match the offer")]
    AnswerCryptoMismatch,
    /// The answer's media lines are not the offer's, one for one.
    #[error("the answer's media lines do not match the offer's")]
    AnswerMismatch,
    /// An answer came when no offer was waiting for one.
    #[error("an SDP answer without an offer")]
    AnswerWithoutOffer,
    /// The body is not an SDP TwoLeg can read.
    #[error("the SDP cannot be read")]
    UnreadableSdp,
    /// The media port range has no free pair left.
    #[error("no free port pair in the media port range")]
    NoMediaPorts,
}

impl PolicyViolation {
    /// The status a request gets when its offer breaks the policy: 503 when ports ran out,
    /// else 488 Not Acceptable Here.
    pub fn status(&self) -> u16 {
        match self {
            Self::NoMediaPorts => 503,
            _ => 488,
        }
    }
}

/// What TwoLeg does with one media section of an offer it received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SectionChoice {
    /// Relay it: SRTP with the peer's key when `crypto` is set (its tag is echoed), clear RTP
    /// otherwise. `form` is how the peer offered it (a leg in Auto mirrors it).
    Use {
        /// The peer's crypto line TwoLeg accepts.
        crypto: Option<Crypto>,
        /// How the peer offered the section.
        form: OfferForm,
    },
    /// Answer it with port 0: already disabled, not RTP, or the unused half of a legacy
    /// SAVP/AVP pair.
    Reject,
}

/// The form of the offer TwoLeg writes on a leg: set by the leg's mode, or (Auto) a mirror of
/// what the other leg offered.
pub(crate) fn offer_form(mode: MediaEncryptionMode, mirrored: OfferForm) -> OfferForm {
    match mode {
        MediaEncryptionMode::ForceEncrypted => OfferForm::Savp,
        MediaEncryptionMode::BestEffort => OfferForm::Osrtp,
        MediaEncryptionMode::ForceUnencrypted => OfferForm::Plain,
        MediaEncryptionMode::Auto => mirrored,
    }
}

/// The form an offered section takes.
pub(crate) fn form_of(section: &MediaSection) -> OfferForm {
    if section.is_savp() {
        OfferForm::Savp
    } else if section.cryptos().iter().any(Result::is_ok) {
        OfferForm::Osrtp
    } else {
        OfferForm::Plain
    }
}

/// What TwoLeg takes from an offer received on a leg whose zone has `mode`, one choice per
/// media section; or why the offer is refused (488).
pub(crate) fn choose_in_offer(
    mode: MediaEncryptionMode,
    offer: &SessionDescription,
) -> Result<Vec<SectionChoice>, PolicyViolation> {
    check_microsoft_level(mode, offer.session_attribute("encryption"))?;
    let mut choices: Vec<SectionChoice> = Vec::with_capacity(offer.media.len());
    let mut index = 0;
    while index < offer.media.len() {
        let section = &offer.media[index];
        // A legacy pair: the same media offered as SAVP and then as AVP (or the reverse).
        let pair = offer.media.get(index + 1).filter(|next| {
            next.kind == section.kind
                && next.is_rtp()
                && section.is_rtp()
                && next.port != 0
                && section.port != 0
                && next.is_savp() != section.is_savp()
        });
        if let Some(next) = pair {
            let (secure_first, secure) = if section.is_savp() {
                (true, section)
            } else {
                (false, next)
            };
            let use_secure = mode != MediaEncryptionMode::ForceUnencrypted
                && secure.cryptos().iter().any(Result::is_ok);
            let secure_choice = if use_secure {
                choose_in_section(mode, secure)?
            } else {
                SectionChoice::Reject
            };
            let clear_choice = if use_secure {
                SectionChoice::Reject
            } else {
                let clear = if secure_first { next } else { section };
                choose_in_section(mode, clear)?
            };
            if secure_first {
                choices.extend([secure_choice, clear_choice]);
            } else {
                choices.extend([clear_choice, secure_choice]);
            }
            index += 2;
            continue;
        }
        choices.push(choose_in_section(mode, section)?);
        index += 1;
    }
    if !choices
        .iter()
        .any(|c| matches!(c, SectionChoice::Use { .. }))
    {
        return Err(PolicyViolation::NoMedia);
    }
    Ok(choices)
}

fn choose_in_section(
    mode: MediaEncryptionMode,
    section: &MediaSection,
) -> Result<SectionChoice, PolicyViolation> {
    if section.port == 0 || !section.is_rtp() {
        return Ok(SectionChoice::Reject);
    }
    check_microsoft_level(mode, section.attribute("encryption"))?;
    let form = form_of(section);
    let usable = section.cryptos().into_iter().find_map(Result::ok);
    let crypto = match (mode, form, usable) {
        (MediaEncryptionMode::ForceUnencrypted, OfferForm::Savp, _) => {
            return Err(PolicyViolation::EncryptionForbidden);
        }
        (MediaEncryptionMode::ForceUnencrypted, _, _) => None,
        (MediaEncryptionMode::ForceEncrypted, _, None) => {
            return Err(PolicyViolation::EncryptionRequired);
        }
        (_, OfferForm::Savp, None) => return Err(PolicyViolation::NoCommonSuite),
        (_, _, usable) => usable,
    };
    Ok(SectionChoice::Use { crypto, form })
}

/// Microsoft's `a=encryption:required|optional|rejected` against the leg's mode.
fn check_microsoft_level(
    mode: MediaEncryptionMode,
    level: Option<&str>,
) -> Result<(), PolicyViolation> {
    match (mode, level.map(str::to_ascii_lowercase).as_deref()) {
        (MediaEncryptionMode::ForceUnencrypted, Some("required"))
        | (MediaEncryptionMode::ForceEncrypted, Some("rejected")) => {
            Err(PolicyViolation::EncryptionLevelsIncompatible)
        }
        _ => Ok(()),
    }
}

/// What an answer to TwoLeg's offer settled for one section: the peer's crypto line (its key,
/// and the tag of TwoLeg's line it accepted), or clear RTP; `None` when the peer rejected the
/// section (port 0).
///
/// The accepted line must name one of `offered` (tag and suite, RFC 4568 §5.1.2).
pub(crate) fn check_answer(
    offered: OfferForm,
    offered_lines: &[(u32, Suite)],
    answer: &MediaSection,
) -> Result<Option<Option<Crypto>>, PolicyViolation> {
    if answer.port == 0 {
        return Ok(None);
    }
    let crypto = answer.cryptos().into_iter().find_map(Result::ok);
    match (offered, crypto) {
        (OfferForm::Plain, Some(_)) => Err(PolicyViolation::AnswerCryptoMismatch),
        (OfferForm::Plain, None) if answer.is_savp() => Err(PolicyViolation::AnswerCryptoMismatch),
        (OfferForm::Savp, None) => Err(PolicyViolation::AnswerWithoutCrypto),
        (_, Some(crypto)) if !offered_lines.contains(&(crypto.tag, crypto.suite())) => {
            Err(PolicyViolation::AnswerCryptoMismatch)
        }
        (_, crypto) => Ok(Some(crypto)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MediaEncryptionMode::{Auto, BestEffort, ForceEncrypted, ForceUnencrypted};

    const KEY: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

    fn sdp(sections: &[(&str, bool)]) -> SessionDescription {
        let mut text =
            "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n".to_owned();
        for (i, (proto, crypto)) in sections.iter().enumerate() {
            text.push_str(&format!("m=audio {} {proto} 0\r\n", 4000 + 2 * i));
            if *crypto {
                text.push_str(&format!(
                    "a=crypto:{} AES_CM_128_HMAC_SHA1_80 inline:{KEY}\r\n",
                    i + 1
                ));
            }
        }
        SessionDescription::parse(text.as_bytes()).unwrap()
    }

    fn used(choice: &SectionChoice) -> Option<(bool, OfferForm)> {
        match choice {
            SectionChoice::Use { crypto, form } => Some((crypto.is_some(), *form)),
            SectionChoice::Reject => None,
        }
    }

    /// The README's table, the offer TwoLeg receives, for every mode and offer form.
    #[test]
    fn offers_received_per_mode() {
        let savp = sdp(&[("RTP/SAVP", true)]);
        let osrtp = sdp(&[("RTP/AVP", true)]);
        let plain = sdp(&[("RTP/AVP", false)]);
        let take = |mode, offer: &SessionDescription| {
            choose_in_offer(mode, offer).map(|choices| used(&choices[0]))
        };
        assert_eq!(
            take(ForceEncrypted, &savp),
            Ok(Some((true, OfferForm::Savp)))
        );
        assert_eq!(
            take(ForceEncrypted, &osrtp),
            Ok(Some((true, OfferForm::Osrtp)))
        );
        assert_eq!(
            take(ForceEncrypted, &plain),
            Err(PolicyViolation::EncryptionRequired)
        );
        assert_eq!(take(BestEffort, &savp), Ok(Some((true, OfferForm::Savp))));
        assert_eq!(take(BestEffort, &osrtp), Ok(Some((true, OfferForm::Osrtp))));
        assert_eq!(
            take(BestEffort, &plain),
            Ok(Some((false, OfferForm::Plain)))
        );
        assert_eq!(
            take(ForceUnencrypted, &savp),
            Err(PolicyViolation::EncryptionForbidden)
        );
        assert_eq!(
            take(ForceUnencrypted, &osrtp),
            Ok(Some((false, OfferForm::Osrtp)))
        );
        assert_eq!(
            take(ForceUnencrypted, &plain),
            Ok(Some((false, OfferForm::Plain)))
        );
        assert_eq!(take(Auto, &savp), Ok(Some((true, OfferForm::Savp))));
        assert_eq!(take(Auto, &osrtp), Ok(Some((true, OfferForm::Osrtp))));
        assert_eq!(take(Auto, &plain), Ok(Some((false, OfferForm::Plain))));
    }

    #[test]
    fn an_srtp_offer_without_a_known_suite_is_refused() {
        let text = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/SAVP 0\r\n\
                    a=crypto:1 F8_128_HMAC_SHA1_80 inline:AAAA\r\n";
        let offer = SessionDescription::parse(text.as_bytes()).unwrap();
        assert_eq!(
            choose_in_offer(Auto, &offer),
            Err(PolicyViolation::NoCommonSuite)
        );
        assert_eq!(
            choose_in_offer(ForceEncrypted, &offer),
            Err(PolicyViolation::EncryptionRequired)
        );
    }

    #[test]
    fn legacy_pairs_keep_one_half() {
        let pair = sdp(&[("RTP/SAVP", true), ("RTP/AVP", false)]);
        let choices = choose_in_offer(BestEffort, &pair).unwrap();
        assert_eq!(used(&choices[0]), Some((true, OfferForm::Savp)));
        assert_eq!(choices[1], SectionChoice::Reject);
        let choices = choose_in_offer(ForceUnencrypted, &pair).unwrap();
        assert_eq!(choices[0], SectionChoice::Reject);
        assert_eq!(used(&choices[1]), Some((false, OfferForm::Plain)));
        let reversed = sdp(&[("RTP/AVP", false), ("RTP/SAVP", true)]);
        let choices = choose_in_offer(ForceEncrypted, &reversed).unwrap();
        assert_eq!(choices[0], SectionChoice::Reject);
        assert_eq!(used(&choices[1]), Some((true, OfferForm::Savp)));
    }

    #[test]
    fn two_media_lines_are_chosen_apart_and_nothing_to_relay_is_refused() {
        let text = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n\
                    m=video 4002 RTP/AVP 96\r\nm=application 5000 UDP/BFCP *\r\n";
        let offer = SessionDescription::parse(text.as_bytes()).unwrap();
        let choices = choose_in_offer(Auto, &offer).unwrap();
        assert_eq!(choices.len(), 3);
        assert!(used(&choices[0]).is_some() && used(&choices[1]).is_some());
        assert_eq!(choices[2], SectionChoice::Reject, "not RTP");
        let disabled = SessionDescription::parse(b"v=0\r\nm=audio 0 RTP/AVP 0\r\n").unwrap();
        assert_eq!(
            choose_in_offer(Auto, &disabled),
            Err(PolicyViolation::NoMedia)
        );
    }

    #[test]
    fn microsoft_encryption_levels_are_honoured() {
        let mut required = sdp(&[("RTP/AVP", true)]);
        required.media[0]
            .lines
            .push("a=encryption:required".to_owned());
        assert_eq!(
            choose_in_offer(ForceUnencrypted, &required),
            Err(PolicyViolation::EncryptionLevelsIncompatible)
        );
        let mut rejected = sdp(&[("RTP/AVP", false)]);
        rejected.session.push("a=encryption:rejected".to_owned());
        assert_eq!(
            choose_in_offer(ForceEncrypted, &rejected),
            Err(PolicyViolation::EncryptionLevelsIncompatible)
        );
        assert!(choose_in_offer(BestEffort, &required).is_ok());
    }

    #[test]
    fn offers_written_per_mode_mirror_in_auto() {
        for mirrored in [OfferForm::Savp, OfferForm::Osrtp, OfferForm::Plain] {
            assert_eq!(offer_form(ForceEncrypted, mirrored), OfferForm::Savp);
            assert_eq!(offer_form(BestEffort, mirrored), OfferForm::Osrtp);
            assert_eq!(offer_form(ForceUnencrypted, mirrored), OfferForm::Plain);
            assert_eq!(offer_form(Auto, mirrored), mirrored);
        }
    }

    #[test]
    fn answers_are_held_to_what_was_offered() {
        let with_crypto = &sdp(&[("RTP/SAVP", true)]).media[0];
        let osrtp_answer = &sdp(&[("RTP/AVP", true)]).media[0];
        let clear = &sdp(&[("RTP/AVP", false)]).media[0];
        let rejected = &SessionDescription::parse(b"v=0\r\nm=audio 0 RTP/AVP 0\r\n")
            .unwrap()
            .media[0];
        assert!(matches!(
            check_answer(
                OfferForm::Savp,
                &[(1, Suite::AesCm128HmacSha1_80)],
                with_crypto
            ),
            Ok(Some(Some(_)))
        ));
        assert_eq!(
            check_answer(OfferForm::Savp, &[(1, Suite::AesCm128HmacSha1_80)], clear),
            Err(PolicyViolation::AnswerWithoutCrypto)
        );
        assert!(matches!(
            check_answer(
                OfferForm::Osrtp,
                &[(1, Suite::AesCm128HmacSha1_80)],
                osrtp_answer
            ),
            Ok(Some(Some(_)))
        ));
        assert_eq!(
            check_answer(OfferForm::Osrtp, &[(1, Suite::AesCm128HmacSha1_80)], clear),
            Ok(Some(None))
        );
        assert_eq!(
            check_answer(
                OfferForm::Osrtp,
                &[(2, Suite::AesCm128HmacSha1_80), (3, Suite::AeadAes128Gcm)],
                osrtp_answer
            ),
            Err(PolicyViolation::AnswerCryptoMismatch),
            "tag 1 was never offered"
        );
        assert_eq!(
            check_answer(OfferForm::Savp, &[(1, Suite::AeadAes128Gcm)], with_crypto),
            Err(PolicyViolation::AnswerCryptoMismatch),
            "tag 1 was offered with another suite"
        );
        assert_eq!(
            check_answer(OfferForm::Plain, &[], with_crypto),
            Err(PolicyViolation::AnswerCryptoMismatch)
        );
        assert_eq!(check_answer(OfferForm::Plain, &[], clear), Ok(Some(None)));
        assert_eq!(
            check_answer(
                OfferForm::Savp,
                &[(1, Suite::AesCm128HmacSha1_80)],
                rejected
            ),
            Ok(None)
        );
    }
}
