//! Entry point of the browser bundle (built by Trunk).

#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::ui::App);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("The Echoes app runs in a browser: build it with `trunk build` (see README.md).");
    std::process::exit(2);
}
