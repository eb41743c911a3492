//! The problems validation finds at one field, shown next to it.

use yew::prelude::*;

#[derive(Clone, PartialEq, Properties)]
pub(crate) struct FieldErrorsProps {
    pub(crate) errors: Vec<String>,
}

#[component(FieldErrors)]
pub(crate) fn field_errors(props: &FieldErrorsProps) -> Html {
    html! {
        <>{ for props.errors.iter().map(|e| html! { <div class="field-error">{ e }</div> }) }</>
    }
}
