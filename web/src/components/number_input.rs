//! A labelled number input; what is typed is passed on as is, so validation can name mistakes.

use web_sys::HtmlInputElement;
use yew::prelude::*;

#[derive(Clone, PartialEq, Properties)]
pub(crate) struct NumberInputProps {
    pub(crate) id: AttrValue,
    pub(crate) label: AttrValue,
    pub(crate) value: u64,
    pub(crate) onchange: Callback<u64>,
}

#[component(NumberInput)]
pub(crate) fn number_input(props: &NumberInputProps) -> Html {
    let oninput = {
        let callback = props.onchange.clone();
        Callback::from(move |e: InputEvent| {
            let text = e.target_unchecked_into::<HtmlInputElement>().value();
            if let Ok(value) = text.trim().parse::<u64>() {
                callback.emit(value);
            }
        })
    };
    html! {
        <label class="field">
            <span>{ props.label.clone() }</span>
            <input id={props.id.clone()} type="number" min="0" value={props.value.to_string()} {oninput} />
        </label>
    }
}
