//! `pg-throwaway start` prints `<url> <dir>` of a new throwaway PostgreSQL server left running;
//! `pg-throwaway stop <dir>` stops it and removes its directory. Used by `scripts/test.sh`.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("start") => {
            let pg = test_support::postgres::Postgres::start();
            let url = pg.base_url();
            let dir = pg.keep();
            println!("{url} {}", dir.display());
        }
        Some("stop") => test_support::postgres::stop_kept(std::path::Path::new(args.get(2).expect("the directory"))),
        _ => {
            eprintln!("usage: pg-throwaway start | stop <dir>");
            std::process::exit(2);
        }
    }
}
