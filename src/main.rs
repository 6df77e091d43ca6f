fn main() {
    std::process::exit(archsmoke::cli::main());
}
