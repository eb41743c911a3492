//! TwoLeg behaviour and end-to-end tests live in `tests/tests/`, one file per behaviour.
