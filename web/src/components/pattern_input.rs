//! A Request-URI part pattern: any, exact, prefix or regex, with its text.

use twoleg_core::config::Pattern;
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

#[derive(Clone, PartialEq, Properties)]
pub(crate) struct PatternInputProps {
    pub(crate) id: AttrValue,
    pub(crate) label: AttrValue,
    pub(crate) pattern: Option<Pattern>,
    pub(crate) onchange: Callback<Option<Pattern>>,
}

#[component(PatternInput)]
pub(crate) fn pattern_input(props: &PatternInputProps) -> Html {
    let kind = kind_of(props.pattern.as_ref());
    let text = text_of(props.pattern.as_ref());
    let on_kind = {
        let onchange = props.onchange.clone();
        let text = text.clone();
        Callback::from(move |e: Event| {
            let kind = e.target_unchecked_into::<HtmlSelectElement>().value();
            onchange.emit(make(&kind, text.clone()));
        })
    };
    let on_text = {
        let onchange = props.onchange.clone();
        Callback::from(move |e: InputEvent| {
            let text = e.target_unchecked_into::<HtmlInputElement>().value();
            onchange.emit(make(if kind == "any" { "exact" } else { kind }, text));
        })
    };
    html! {
        <label class="field">
            <span>{ props.label.clone() }</span>
            <span>
                <select id={format!("{}-kind", props.id)} onchange={on_kind}>
                    { for ["any", "exact", "prefix", "regex"].iter().map(|k| html! {
                        <option value={*k} selected={*k == kind}>{ *k }</option>
                    }) }
                </select>
                <input id={props.id.clone()} value={text} oninput={on_text} />
            </span>
        </label>
    }
}

fn kind_of(pattern: Option<&Pattern>) -> &'static str {
    match pattern {
        None => "any",
        Some(Pattern::Exact(_)) => "exact",
        Some(Pattern::Prefix(_)) => "prefix",
        Some(Pattern::Regex(_)) => "regex",
    }
}

fn text_of(pattern: Option<&Pattern>) -> String {
    match pattern {
        None => String::new(),
        Some(Pattern::Exact(t) | Pattern::Prefix(t) | Pattern::Regex(t)) => t.clone(),
    }
}

fn make(kind: &str, text: String) -> Option<Pattern> {
    match kind {
        "exact" => Some(Pattern::Exact(text)),
        "prefix" => Some(Pattern::Prefix(text)),
        "regex" => Some(Pattern::Regex(text)),
        _ => None,
    }
}
