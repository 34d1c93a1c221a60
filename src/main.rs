fn main() -> std::process::ExitCode {
    // `vpcsim run -v | head -1`: a closed pipe ends the process quietly with the
    // conventional status (killed by SIGPIPE, 141 in a shell) instead of a panic in
    // println!. Rust ignores SIGPIPE by default; restore the default action.
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is a valid
    // disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    vpcsim::cli::main()
}
