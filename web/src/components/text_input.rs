//! A labelled text input that reports every keystroke.

use web_sys::HtmlInputElement;
use yew::prelude::*;

#[derive(Clone, PartialEq, Properties)]
pub(crate) struct TextInputProps {
    pub(crate) id: AttrValue,
    pub(crate) label: AttrValue,
    pub(crate) value: AttrValue,
    pub(crate) oninput: Callback<String>,
    #[prop_or(AttrValue::Static("text"))]
    pub(crate) kind: AttrValue,
    #[prop_or_default]
    pub(crate) placeholder: AttrValue,
}

#[component(TextInput)]
pub(crate) fn text_input(props: &TextInputProps) -> Html {
    let oninput = {
        let callback = props.oninput.clone();
        Callback::from(move |e: InputEvent| {
            callback.emit(e.target_unchecked_into::<HtmlInputElement>().value())
        })
    };
    html! {
        <label class="field">
            <span>{ props.label.clone() }</span>
            <input id={props.id.clone()} type={props.kind.clone()} value={props.value.clone()}
                placeholder={props.placeholder.clone()} {oninput} />
        </label>
    }
}
