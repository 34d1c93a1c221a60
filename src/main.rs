fn main() -> std::process::ExitCode {
    vpcsim::cli::main()
}
