//! The digest credentials zones with Check credentials challenge for: the realm and each user's
//! name and password (a password field; the exported file carries it, nothing else shows it).

use twoleg_core::config::{Authentication, Credential, Password};
use yew::prelude::*;

use crate::app::Ctx;
use crate::components::field_errors::FieldErrors;
use crate::components::text_input::TextInput;
use crate::state::Action;

#[component(CredentialsEditor)]
pub(crate) fn credentials_editor() -> Html {
    let ctx = use_context::<Ctx>().expect("the app provides the context");
    let auth = ctx.config.config.authentication.clone();
    let set = {
        let ctx = ctx.clone();
        move |auth: Authentication| ctx.config.dispatch(Action::SetAuthentication(auth))
    };
    let realm = {
        let (set, auth) = (set.clone(), auth.clone());
        Callback::from(move |value: String| {
            let mut next = auth.clone();
            next.realm = value;
            set(next);
        })
    };
    let rows = auth.credentials.iter().enumerate().map(|(i, credential)| {
        let edit = |f: fn(&mut Credential, String)| {
            let (set, auth) = (set.clone(), auth.clone());
            Callback::from(move |value: String| {
                let mut next = auth.clone();
                f(&mut next.credentials[i], value);
                set(next);
            })
        };
        let delete = {
            let (set, auth) = (set.clone(), auth.clone());
            Callback::from(move |_: MouseEvent| {
                let mut next = auth.clone();
                if i < next.credentials.len() {
                    next.credentials.remove(i);
                }
                set(next);
            })
        };
        html! {
            <div class="route">
                <TextInput id={format!("credential-{i}-username")} label="Username" value={credential.username.clone()} oninput={edit(|c, v| c.username = v)} />
                <TextInput id={format!("credential-{i}-password")} label="Password" kind="password" value={credential.password.expose().to_owned()} oninput={edit(|c, v| c.password = Password::new(v))} />
                <button id={format!("credential-{i}-delete")} onclick={delete}>{ "Delete user" }</button>
                <FieldErrors errors={ctx.config.problems_at(&format!("authentication.credentials[{i}]"))} />
            </div>
        }
    });
    let add = {
        let (set, auth) = (set.clone(), auth.clone());
        Callback::from(move |_: MouseEvent| {
            let mut next = auth.clone();
            next.credentials.push(Credential::default());
            set(next);
        })
    };
    html! {
        <>
            <h2>{ "Authentication (zones that check credentials)" }</h2>
            <div class="form">
                <TextInput id="authentication-realm" label="Realm" value={auth.realm.clone()} oninput={realm} />
            </div>
            { for rows }
            <button id="credential-add" onclick={add}>{ "Add user" }</button>
            <FieldErrors errors={ctx.config.problems_at("authentication")} />
        </>
    }
}
