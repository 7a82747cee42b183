//! The page's side of the trainer (`src/bin/trainer.rs`): each job gets a fresh Web Worker,
//! which is terminated when the job ends, so a fit never holds up the page and a finished one
//! leaves nothing running.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use futures::channel::oneshot;
use wasm_bindgen::prelude::*;
use web_sys::{ErrorEvent, MessageEvent, Worker};

use crate::training::{Job, Reply};

/// Where Trunk puts the worker's loader, beside `index.html`.
const LOADER: &str = "./trainer_loader.js";

/// A worker with its job in flight; dropping it terminates the worker.
struct Running {
    worker: Worker,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(ErrorEvent)>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.worker.terminate();
    }
}

thread_local! {
    static RUNNING: RefCell<HashMap<u64, Running>> = RefCell::new(HashMap::new());
    static NEXT: Cell<u64> = const { Cell::new(0) };
}

/// Runs `job` in a new trainer; `progress` sees `(what, done, total)` as it goes. Resolves to
/// the job's result, or `Reply::Failed` when the worker cannot start or crashes.
pub async fn run(job: Job, progress: impl Fn(&str, usize, usize) + 'static) -> Reply {
    let (tx, rx) = oneshot::channel::<Reply>();
    let tx = Rc::new(RefCell::new(Some(tx)));
    let text = match serde_json::to_string(&job) {
        Ok(t) => t,
        Err(e) => {
            return Reply::Failed {
                error: e.to_string(),
            }
        }
    };
    let worker = match Worker::new(LOADER) {
        Ok(w) => w,
        Err(e) => {
            return Reply::Failed {
                error: format!("cannot start the trainer ({LOADER}): {e:?}"),
            }
        }
    };
    let id = NEXT.with(|n| {
        n.set(n.get() + 1);
        n.get()
    });
    let done = {
        let tx = tx.clone();
        move |reply: Reply| {
            if let Some(tx) = tx.borrow_mut().take() {
                let _ = tx.send(reply);
            }
        }
    };
    let on_message = {
        let worker = worker.clone();
        let done = done.clone();
        Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            let reply = match ev
                .data()
                .as_string()
                .map(|t| serde_json::from_str::<Reply>(&t))
            {
                Some(Ok(r)) => r,
                Some(Err(e)) => Reply::Failed {
                    error: format!("unreadable answer from the trainer: {e}"),
                },
                None => return,
            };
            match reply {
                // The worker listens now: hand it the job.
                Reply::Ready => {
                    let _ = worker.post_message(&JsValue::from_str(&text));
                }
                Reply::Progress { what, done, total } => progress(&what, done, total),
                r => done(r),
            }
        })
    };
    let on_error = Closure::<dyn FnMut(ErrorEvent)>::new(move |ev: ErrorEvent| {
        done(Reply::Failed {
            error: format!("the trainer failed: {}", ev.message()),
        });
    });
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    RUNNING.with(|r| {
        r.borrow_mut().insert(
            id,
            Running {
                worker,
                _on_message: on_message,
                _on_error: on_error,
            },
        )
    });
    let reply = rx.await.unwrap_or(Reply::Failed {
        error: "the trainer stopped without an answer".into(),
    });
    // Out of the worker's handlers by now (this runs as a task): safe to drop them.
    RUNNING.with(|r| r.borrow_mut().remove(&id));
    reply
}
