//! `report.html`: one self-contained page (inline CSS and SVG, no scripts, no external
//! assets) that shows at a glance how the session went: each task's state, each round's
//! counts, throughput over time, and failures by reason.

use super::{Reason, RoundReport, SessionReport};
use std::fmt::Write;

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn state_class(s: &str) -> &'static str {
    match s {
        "COMPLETED" => "ok",
        "INPROGRESS" | "INITED" => "run",
        "COMPLETED_WITH_ERRORS" | "INTERRUPTED" | "STOPPED" => "warn",
        _ => "bad",
    }
}

fn human_bytes(b: u64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1000.0 && u < units.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

const W: f64 = 640.0;
const H: f64 = 220.0;
const PAD: f64 = 44.0;
/// The plot area's top and bottom edges (the value axis).
const TOP: f64 = 20.0;
const BOTTOM: f64 = H - 40.0;

/// Upload throughput (MB/s between samples) and items migrated per second, over time.
fn throughput_chart(r: &RoundReport) -> String {
    let s = &r.samples;
    if s.len() < 2 {
        return "<p class=\"muted\">Too short to chart: fewer than two progress samples.</p>"
            .into();
    }
    let mut mbps = Vec::new();
    let mut ips = Vec::new();
    for w in s.windows(2) {
        let dt = (w[1].t - w[0].t).max(1e-3);
        mbps.push((
            w[1].t,
            (w[1].uploaded_bytes.saturating_sub(w[0].uploaded_bytes)) as f64 / 1e6 / dt,
        ));
        ips.push((
            w[1].t,
            (w[1].migrated.saturating_sub(w[0].migrated)) as f64 / dt,
        ));
    }
    let t_max = s.last().map(|x| x.t).unwrap_or(1.0).max(1e-3);
    let path = |pts: &[(f64, f64)], vmax: f64| -> String {
        let mut d = String::new();
        for (i, (t, v)) in pts.iter().enumerate() {
            let x = PAD + (t / t_max) * (W - 2.0 * PAD);
            let y = BOTTOM - (v / vmax.max(1e-9)) * (BOTTOM - TOP - 4.0);
            let _ = write!(d, "{}{x:.1},{y:.1} ", if i == 0 { "M" } else { "L" });
        }
        d
    };
    let m_max = mbps.iter().map(|p| p.1).fold(0.0, f64::max);
    let i_max = ips.iter().map(|p| p.1).fold(0.0, f64::max);
    format!(
        r##"<svg viewBox="0 0 {W} {H}" role="img" aria-label="Throughput over time">
<rect x="{PAD}" y="{TOP}" width="{pw}" height="{ph}" class="plot"/>
<path d="{m}" class="l1"/><path d="{i}" class="l2"/>
<text x="{PAD}" y="{lbl}" class="ax">0 s</text><text x="{xr}" y="{lbl}" class="ax" text-anchor="end">{t_max:.1} s</text>
<text x="{PAD}" y="{top2}" class="ax">{m_max:.1} MB/s</text><text x="{xr}" y="{top2}" class="ax" text-anchor="end">{i_max:.0} items/s</text>
<rect x="{PAD}" y="{legy}" width="12" height="3" fill="#2563eb"/><text x="{lx1}" y="{legt}" class="ax">upload MB/s</text>
<rect x="{lx2}" y="{legy}" width="12" height="3" fill="#b45309"/><text x="{lx3}" y="{legt}" class="ax">items migrated/s</text>
</svg>"##,
        pw = W - 2.0 * PAD,
        ph = BOTTOM - TOP,
        m = path(&mbps, m_max),
        i = path(&ips, i_max),
        lbl = BOTTOM + 14.0,
        xr = W - PAD,
        top2 = TOP - 6.0,
        legy = H - 10.0,
        legt = H - 6.0,
        lx1 = PAD + 16.0,
        lx2 = PAD + 110.0,
        lx3 = PAD + 126.0,
    )
}

/// Horizontal bars: failed (red) and left-out (grey) items by code and rule.
fn reasons_chart(reasons: &[Reason]) -> String {
    if reasons.is_empty() {
        return "<p class=\"ok-text\">No item failed or was left out.</p>".into();
    }
    let shown: Vec<&Reason> = reasons.iter().take(12).collect();
    let max = shown.iter().map(|r| r.count).max().unwrap_or(1).max(1) as f64;
    let row_h = 22.0;
    let h = row_h * shown.len() as f64 + 8.0;
    let mut svg =
        format!(r#"<svg viewBox="0 0 {W} {h}" role="img" aria-label="Failures by reason">"#);
    for (i, r) in shown.iter().enumerate() {
        let y = 4.0 + i as f64 * row_h;
        let w = (r.count as f64 / max) * (W - 330.0);
        let label = match (r.code.is_empty(), r.rule.is_empty()) {
            (false, false) => format!("{} {}", r.code, r.rule),
            (false, true) => r.code.clone(),
            (true, false) => r.rule.clone(),
            (true, true) => r.outcome.clone(),
        };
        let class = if r.outcome == "Failed" { "bf" } else { "bs" };
        let _ = write!(
            svg,
            r#"<text x="0" y="{ty}" class="ax">{}</text><rect x="250" y="{y}" width="{w:.1}" height="16" class="{class}"/><text x="{tx:.1}" y="{ty}" class="ax">{} ({})</text>"#,
            esc(&label),
            r.count,
            esc(&r.outcome),
            ty = y + 12.0,
            tx = 256.0 + w,
        );
    }
    svg.push_str("</svg>");
    svg
}

fn round_section(out: &mut String, r: &RoundReport) {
    let c = &r.counts;
    let _ = write!(
        out,
        r#"<section class="round"><h3>Round {round} <span class="badge {cls}">{state}</span></h3>
<p class="muted">{src} → {dst}<br>started {start}{end} · {dur:.1} s · {pk} package(s) · {thr} throttled request(s)</p>"#,
        round = r.round,
        cls = state_class(&r.status),
        state = esc(&r.status),
        src = esc(&r.source),
        dst = esc(&r.destination),
        start = esc(&r.start_time),
        end = r
            .end_time
            .as_deref()
            .map(|e| format!(", ended {}", esc(e)))
            .unwrap_or_default(),
        dur = r.duration_secs,
        pk = r.packages,
        thr = r.throttled_requests,
    );
    if let Some(e) = &r.error {
        let _ = write!(out, r#"<p class="error">{}</p>"#, esc(e));
    }
    let cards = [
        ("Scanned", c.scanned_items.to_string(), ""),
        (
            "Migrated",
            format!("{} ({})", c.migrated(), human_bytes(c.migrated_bytes)),
            "ok-text",
        ),
        (
            "Failed",
            c.failed.to_string(),
            if c.failed > 0 { "bad-text" } else { "" },
        ),
        ("Unchanged", c.unchanged.to_string(), ""),
        ("Filtered out", c.filtered.to_string(), ""),
        ("Deleted", c.deleted.to_string(), ""),
        (
            "Not confirmed",
            c.pending.to_string(),
            if c.pending > 0 { "bad-text" } else { "" },
        ),
    ];
    out.push_str(r#"<div class="cards">"#);
    for (k, v, cls) in cards {
        let _ = write!(
            out,
            r#"<div class="card"><div class="k">{k}</div><div class="v {cls}">{}</div></div>"#,
            esc(&v)
        );
    }
    out.push_str(
        "</div><div class=\"charts\"><figure><figcaption>Throughput over time</figcaption>",
    );
    out.push_str(&throughput_chart(r));
    out.push_str("</figure><figure><figcaption>Failures and left-out items by reason</figcaption>");
    out.push_str(&reasons_chart(&r.reasons));
    out.push_str("</figure></div></section>");
}

pub fn render(rep: &SessionReport) -> String {
    let st = &rep.status;
    let result = st.result.clone().unwrap_or_else(|| st.status.clone());
    let result_cls = match result.as_str() {
        "Succeeded" => "ok",
        "Running" | "NotStarted" => "run",
        "FinishedWithErrors" | "Interrupted" => "warn",
        _ => "bad",
    };
    let mut out = String::with_capacity(16 * 1024);
    let _ = write!(
        out,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>spmt migration report</title>
<style>
body{{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1100px;color:#1f2937;padding:0 16px}}
h1{{font-size:22px;margin:0 0 4px}} h2{{font-size:18px;margin:28px 0 8px}} h3{{font-size:15px;margin:16px 0 4px}}
.muted{{color:#6b7280;margin:2px 0 8px}} .badge{{display:inline-block;padding:2px 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff}}
.ok{{background:#15803d}} .warn{{background:#b45309}} .bad{{background:#b91c1c}} .run{{background:#2563eb}}
.ok-text{{color:#15803d}} .bad-text{{color:#b91c1c}} .error{{color:#b91c1c;font-weight:600}}
table{{border-collapse:collapse;width:100%;margin:8px 0}} th,td{{border-bottom:1px solid #e5e7eb;padding:6px 8px;text-align:left;vertical-align:top}}
th{{background:#f9fafb;font-weight:600}} td.n{{text-align:right;font-variant-numeric:tabular-nums}}
.cards{{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0}} .card{{border:1px solid #e5e7eb;border-radius:8px;padding:8px 12px;min-width:110px}}
.card .k{{color:#6b7280;font-size:12px}} .card .v{{font-size:18px;font-weight:600}}
.charts{{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:16px}} figure{{margin:0}} figcaption{{font-weight:600;margin-bottom:4px}}
svg{{width:100%;height:auto;background:#fff}} .plot{{fill:#f9fafb;stroke:#e5e7eb}} .l1{{fill:none;stroke:#2563eb;stroke-width:2}} .l2{{fill:none;stroke:#b45309;stroke-width:2}}
.ax{{font-size:11px;fill:#4b5563}} .bf{{fill:#b91c1c}} .bs{{fill:#9ca3af}} section.round{{border-top:1px solid #e5e7eb;padding-top:4px}}
</style></head><body>
<h1>Migration report <span class="badge {result_cls}">{result}</span></h1>
<p class="muted">Session {sid} · {device} · generated {gen} · working folder {wf}</p>
<h2>Tasks</h2>
<table><thead><tr><th>Task</th><th>Source</th><th>Target</th><th>Status</th><th>Round</th><th>Migrated files</th><th>Failed files</th><th>Scanned files</th><th>Message</th></tr></thead><tbody>
"#,
        result = esc(&result),
        sid = esc(&rep.session_id),
        device = esc(&rep.device_name),
        gen = esc(&rep.generated),
        wf = esc(&st.working_folder),
    );
    for t in &st.status_of_tasks {
        let _ = writeln!(
            out,
            r#"<tr><td>{id}</td><td>{src}</td><td>{dst}</td><td><span class="badge {cls}">{state}</span></td><td class="n">{round}</td><td class="n">{m}</td><td class="n">{f}</td><td class="n">{s}</td><td>{msg}</td></tr>"#,
            id = esc(&t.task_id[..8.min(t.task_id.len())]),
            src = esc(&t.source_uri),
            dst = esc(&t.target_uri),
            cls = state_class(&t.status),
            state = esc(&t.status),
            round = t.round,
            m = t.num_actually_migrated_files,
            f = t.num_failed_files,
            s = t.num_scanned_total_files,
            msg = esc(&t.error_msg),
        );
    }
    out.push_str("</tbody></table>\n");
    for t in &st.status_of_tasks {
        let _ = write!(
            out,
            "<h2>Task {} <span class=\"muted\">{}</span></h2>",
            esc(&t.task_id),
            esc(&t.target_uri)
        );
        for r in rep.rounds.iter().rev().filter(|r| r.task_id == t.task_id) {
            round_section(&mut out, r);
        }
    }
    out.push_str("<p class=\"muted\">Item-level detail: the CSV reports in this folder (ItemReport_R&lt;n&gt;.csv, ItemFailureReport_R&lt;n&gt;.csv per task).</p></body></html>\n");
    out
}
