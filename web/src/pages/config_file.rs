//! The config file: export it for the runner (`twoleg.json`), import one (an invalid file shows
//! every problem and leaves the working config untouched), reset to the default.

use gloo::file::callbacks::FileReader;
use twoleg_core::config::ValidConfig;
use web_sys::HtmlInputElement;
use yew::prelude::*;

use crate::app::Ctx;
use crate::state::Action;

#[component(ConfigFile)]
pub(crate) fn config_file() -> Html {
    let ctx = use_context::<Ctx>().expect("the app provides the context");
    let import_problems = use_state(Vec::<String>::new);
    let imported = use_state(|| false);
    let reader = use_mut_ref(|| None::<FileReader>);
    let export = {
        let ctx = ctx.clone();
        Callback::from(move |_: MouseEvent| download("twoleg.json", &ctx.config.config.to_json()))
    };
    let on_file = {
        let ctx = ctx.clone();
        let import_problems = import_problems.clone();
        let imported = imported.clone();
        let reader = reader.clone();
        Callback::from(move |e: Event| {
            let input = e.target_unchecked_into::<HtmlInputElement>();
            let Some(file) = input.files().and_then(|files| files.get(0)) else {
                return;
            };
            let ctx = ctx.clone();
            let import_problems = import_problems.clone();
            let imported = imported.clone();
            let task =
                gloo::file::callbacks::read_as_text(&gloo::file::File::from(file), move |text| {
                    let text = text.unwrap_or_default();
                    match ValidConfig::from_json(&text) {
                        Ok(config) => {
                            ctx.config
                                .dispatch(Action::Replace(Box::new(config.config().clone())));
                            import_problems.set(Vec::new());
                            imported.set(true);
                        }
                        Err(problems) => {
                            import_problems.set(problems.iter().map(ToString::to_string).collect());
                            imported.set(false);
                        }
                    }
                });
            *reader.borrow_mut() = Some(task);
        })
    };
    let reset = {
        let ctx = ctx.clone();
        Callback::from(move |_: MouseEvent| ctx.config.dispatch(Action::Reset))
    };
    let shown = serde_json::to_string_pretty(&ctx.config.config.redacted()).unwrap_or_default();
    html! {
        <section>
            <h1>{ "Config file" }</h1>
            <p class="hint">{ "The file the runner reads: twoleg run --config twoleg.json. The export carries the TURN passwords; the view below hides them." }</p>
            <button id="export" onclick={export}>{ "Export twoleg.json" }</button>
            <label class="field"><span>{ "Import a config file" }</span>
                <input id="import" type="file" accept=".json,application/json" onchange={on_file} /></label>
            <button id="reset-config" onclick={reset}>{ "Reset to the default" }</button>
            if *imported {
                <p id="import-ok">{ "Imported." }</p>
            }
            if !import_problems.is_empty() {
                <div id="import-problems">
                    <p class="field-error">{ format!("The file was not imported: {} problem(s)", import_problems.len()) }</p>
                    <ul>{ for import_problems.iter().map(|p| html! { <li class="import-problem">{ p }</li> }) }</ul>
                </div>
            }
            <h2>{ "Working config" }</h2>
            <ul id="config-problems">{ for ctx.config.problems.iter().map(|p| html! { <li class="field-error">{ p.to_string() }</li> }) }</ul>
            <pre id="config-json">{ shown }</pre>
        </section>
    }
}

/// Offers `contents` as a file download.
fn download(name: &str, contents: &str) {
    let blob = gloo::file::Blob::new_with_options(contents, Some("application/json"));
    let url = gloo::file::ObjectUrl::from(blob);
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let Ok(element) = document.create_element("a") else {
        return;
    };
    let anchor: web_sys::HtmlAnchorElement = wasm_bindgen::JsCast::unchecked_into(element);
    anchor.set_href(&url);
    anchor.set_download(name);
    anchor.click();
    // Revoke the URL once the browser has started the download.
    gloo::timers::callback::Timeout::new(10_000, move || drop(url)).forget();
}
