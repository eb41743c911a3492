//! Components shared by the pages, one per file.

pub(crate) mod credentials_editor;
pub(crate) mod field_errors;
pub(crate) mod listener_editor;
pub(crate) mod nav;
pub(crate) mod number_input;
pub(crate) mod pattern_input;
pub(crate) mod text_input;
