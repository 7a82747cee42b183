//! The trainer: a Web Worker (built by Trunk as its own bundle, `trainer_loader.js`) that runs
//! every model fit off the page's thread. It says `ready`, then answers each JSON
//! [`app::training::Job`] with progress and one result ([`app::training::Reply`]).

#[cfg(target_arch = "wasm32")]
fn main() {
    use app::training::{run, Job, Reply};
    use wasm_bindgen::prelude::*;
    use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

    console_error_panic_hook::set_once();
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let post = {
        let scope = scope.clone();
        move |reply: &Reply| {
            let text = serde_json::to_string(reply).unwrap_or_default();
            let _ = scope.post_message(&JsValue::from_str(&text));
        }
    };
    let clock = {
        let scope = scope.clone();
        move || scope.performance().map_or(0.0, |p| p.now())
    };
    let post_job = post.clone();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        let text = ev.data().as_string().unwrap_or_default();
        let reply = match serde_json::from_str::<Job>(&text) {
            Ok(job) => run(
                job,
                &mut |what: &str, done: usize, total: usize| {
                    post_job(&Reply::Progress {
                        what: what.to_string(),
                        done,
                        total,
                    })
                },
                &clock,
            ),
            Err(e) => Reply::Failed {
                error: format!("the trainer could not read the job: {e}"),
            },
        };
        post_job(&reply);
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The worker lives as long as the page needs it: its handler must too.
    on_message.forget();
    // Messages posted before the handler existed would be lost: the page waits for this.
    post(&Reply::Ready);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("The trainer is the app's Web Worker: Trunk builds it with the app (see README.md).");
    std::process::exit(2);
}
