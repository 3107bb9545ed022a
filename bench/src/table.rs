//! The tables the connections and room benchmarks print.

use std::net::SocketAddr;

use crate::modes::Target;
use crate::suite::{self, Server};

/// "median (min–max)", with the failed rounds counted, or the first failure.
pub(crate) fn cell(values: &[Result<f64, String>]) -> String {
    match suite::stats(values) {
        Ok((med, lo, hi)) => {
            let failed = values.iter().filter(|r| r.is_err()).count();
            let mut c = format!(
                "{} ({}–{})",
                suite::num(med),
                suite::num(lo),
                suite::num(hi)
            );
            if failed > 0 {
                c.push_str(&format!(" [{failed} failed]"));
            }
            c
        }
        Err(e) => format!("failed: {}", e.chars().take(60).collect::<String>()),
    }
}

/// A markdown table with aligned columns.
pub(crate) fn render(rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let line = |r: &[String]| {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        format!("| {} |\n", cells.join(" | "))
    };
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    let mut out = line(&rows[0]);
    out.push_str(&format!("|-{}-|\n", rule.join("-|-")));
    for r in &rows[1..] {
        out.push_str(&line(r));
    }
    out
}

/// Runs `measure` against each server of `list` (label, server) in turn, `rounds` times,
/// each round starting one server later so no server always goes first; each server is
/// started fresh for each measurement. Returns every server's results, in `list`'s order.
pub(crate) fn alternate<T>(
    rounds: usize,
    list: &[(&str, &Server)],
    mut measure: impl FnMut(usize, Target) -> Result<T, String>,
) -> Vec<Vec<Result<T, String>>> {
    let mut results: Vec<Vec<Result<T, String>>> = list.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for i in 0..list.len() {
            let at = (i + round) % list.len();
            let (label, server) = list[at];
            eprint!("bench: round {}/{rounds} {label}:", round + 1);
            let result = suite::start(server).and_then(|running| {
                let target = Target {
                    addr: SocketAddr::from(([127, 0, 0, 1], running.port)),
                    pid: running.child.id(),
                };
                measure(at, target)
            });
            match &result {
                Ok(_) => eprintln!(" done"),
                Err(e) => eprintln!(" {e}"),
            }
            results[at].push(result);
        }
    }
    results
}

/// One row per label: a cell per column, read from each of its results.
pub(crate) fn rows<T>(
    header: &[&str],
    labels: &[&str],
    results: &[Vec<Result<T, String>>],
    columns: &[fn(&T) -> f64],
) -> Vec<Vec<String>> {
    let mut rows = vec![header.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
    for (label, runs) in labels.iter().zip(results) {
        let mut row = vec![label.to_string()];
        for read in columns {
            let values: Vec<Result<f64, String>> = runs
                .iter()
                .map(|r| match r.as_ref().map(read) {
                    Ok(v) if v.is_nan() => Err("noisy: other programs' sockets".to_string()),
                    Ok(v) => Ok(v),
                    Err(e) => Err(e.clone()),
                })
                .collect();
            row.push(cell(&values));
        }
        rows.push(row);
    }
    rows
}
