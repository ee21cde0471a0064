//! Convert benchmark: time and peak memory of converting synthetic App Mesh manifests to Istio
//! YAML, against the floor of merely parsing and re-serialising the same documents.
//!
//! Run: `cargo run --release -p appmesh2istio-bench --bin convert-bench`
//! (`--sizes 1000,10000` by default; `--strict` exits 1 when a target is missed;
//! `--target gateway-api` measures `convert --target gateway-api`, default `istio`).
//!
//! Timings run in this process (warm-up, then the median of several runs). Peak memory is the
//! kernel's high-water mark of resident memory (`VmHWM`) of a fresh child process (this binary
//! re-executed with `--child idle|floor|convert --objects N`) that generates the input, does the
//! work once and reads its own `/proc/self/status`. The `idle` child generates the input and
//! stops: its figure is the part of every other figure that is not the work itself.

use std::hint::black_box;
use std::io::Write;
use std::process::{Command, ExitCode};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use appmesh2istio_bench::{SyntheticMesh, large_stream_options};

/// The allocator of the product binaries (see kubectl-appmesh2istio-convert), so that the
/// figures are theirs; `--features system-allocator` measures with the system's instead.
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `--target`: which output the convert case produces (set once, from the arguments).
static TARGET: OnceLock<appmesh2istio::convert::Target> = OnceLock::new();

fn target() -> appmesh2istio::convert::Target {
    TARGET.get().copied().unwrap_or_default()
}

fn target_name() -> &'static str {
    match target() {
        appmesh2istio::convert::Target::Istio => "istio",
        appmesh2istio::convert::Target::GatewayApi => "gateway-api",
    }
}

/// Convert time at most this multiple of the floor's.
const RATIO_TARGET: f64 = 2.5;
/// Growth: 10x the input costs at most 12x the time, i.e. 1.2x the size ratio.
const GROWTH_SLACK: f64 = 1.2;
/// Convert peak memory at most this multiple of the floor's, at the largest size.
const MEMORY_TARGET: f64 = 2.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Idle,
    Floor,
    Convert,
}

impl Case {
    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "idle" => Case::Idle,
            "floor" => Case::Floor,
            "convert" => Case::Convert,
            other => bail!("unknown case {other:?} (idle, floor, convert)"),
        })
    }

    fn name(self) -> &'static str {
        match self {
            Case::Idle => "idle",
            Case::Floor => "floor",
            Case::Convert => "convert",
        }
    }

    /// Does the work once; returns the length of the output so nothing is optimised away.
    fn run(self, input: &str) -> Result<usize> {
        match self {
            Case::Idle => Ok(0),
            Case::Floor => floor(input),
            Case::Convert => convert(input).map(|out| out.len()),
        }
    }
}

/// The floor: parse every document into a generic value and serialise them all again, with
/// serde-saphyr, the YAML library the converter itself uses.
fn floor(input: &str) -> Result<usize> {
    let values = serde_saphyr::from_multiple_with_options::<serde_json::Value>(
        input,
        large_stream_options(),
    )
    .context("floor: parse")?;
    let out = serde_saphyr::to_string_multiple(&values).context("floor: serialise")?;
    Ok(out.len())
}

/// The converter: load → resolve → convert → render, ending with the YAML text of the Istio
/// objects, exactly what `kubectl appmesh2istio convert -f` writes to standard output.
fn convert(input: &str) -> Result<String> {
    convert_timed(input, &mut [Duration::ZERO; 4])
}

/// Names of the stages [`convert_timed`] times, in order.
const STAGES: [&str; 4] = ["load", "resolve", "convert", "render"];

/// [`convert`], adding the time of each of [`STAGES`] to `stages`.
fn convert_timed(input: &str, stages: &mut [Duration; 4]) -> Result<String> {
    use appmesh2istio::convert::{ConvertOptions, convert};
    use appmesh2istio::load::{InputSource, LoadOptions, load_sources};
    use appmesh2istio::render::to_yaml_stream;
    use appmesh2istio::resolve::resolve;
    let start = Instant::now();
    // The library takes owned bytes (as read from a file or standard input): the copy is part
    // of the measured cost.
    let sources = [InputSource::Bytes {
        name: "synthetic-mesh.yaml".to_owned(),
        bytes: input.as_bytes().to_vec(),
    }];
    let inventory = load_sources(&sources, &LoadOptions::default()).context("load")?;
    let loaded = Instant::now();
    let resolved = resolve(&inventory);
    let resolved_at = Instant::now();
    let opts = ConvertOptions {
        target: target(),
        ..ConvertOptions::default()
    };
    let conversion = convert(&inventory, &resolved, &opts).context("convert")?;
    let converted = Instant::now();
    if conversion.objects.is_empty() {
        bail!("conversion produced no Istio objects");
    }
    let yaml = to_yaml_stream(&conversion.objects).context("render")?;
    let rendered = Instant::now();
    for (stage, (from, to)) in stages.iter_mut().zip([
        (start, loaded),
        (loaded, resolved_at),
        (resolved_at, converted),
        (converted, rendered),
    ]) {
        *stage += to - from;
    }
    Ok(yaml)
}

/// What [`convert`] covers (printed with the results).
const CONVERT_STAGES: &str = "load_sources -> resolve -> convert -> render::to_yaml_stream";

fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Child mode: generate, work once, print `vmhwm_kib=<n> output_bytes=<n>`.
fn child(case: Case, objects: usize) -> Result<()> {
    let work = || {
        let input = SyntheticMesh::with_appmesh_objects(objects).generate();
        case.run(black_box(&input))
    };
    // As in the convert binary, the pipeline runs on the loader's large-stack thread, so
    // generating, parsing and converting share one allocator arena (the floor's main thread
    // is one arena too).
    let output = match case {
        Case::Convert => appmesh2istio::load::with_large_stack(work)?,
        _ => work()?,
    };
    let hwm = vm_hwm_kib().context("VmHWM not available in /proc/self/status")?;
    println!("vmhwm_kib={hwm} output_bytes={output}");
    Ok(())
}

fn peak_of_child(case: Case, objects: usize) -> Result<u64> {
    let exe = std::env::current_exe().context("locate own executable")?;
    let out = Command::new(exe)
        .args(["--child", case.name(), "--objects", &objects.to_string()])
        .args(["--target", target_name()])
        .output()
        .with_context(|| format!("run {} child", case.name()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "{} child for {objects} objects failed: {}",
            case.name(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    stdout
        .split_whitespace()
        .find_map(|field| field.strip_prefix("vmhwm_kib="))
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("{} child printed no vmhwm_kib: {stdout:?}", case.name()))
}

/// Median and fastest of several timed runs.
#[derive(Debug, Clone, Copy)]
struct Timing {
    median: Duration,
    min: Duration,
}

fn summarize(mut times: Vec<Duration>) -> Result<Timing> {
    times.sort();
    Ok(Timing {
        median: times.get(times.len() / 2).copied().context("no runs")?,
        min: times.first().copied().context("no runs")?,
    })
}

/// Times of one size.
struct Timings {
    floor: Timing,
    convert: Option<(Timing, [Duration; 4])>,
    convert_error: Option<String>,
    output_bytes: Option<usize>,
}

/// Timing rounds. Each round runs every size's share of runs, so drift in the machine's speed
/// while the benchmark runs (other processes, clock frequency) affects all sizes alike, not
/// only the size measured last; within a size, floor and convert runs alternate.
const ROUNDS: usize = 7;

/// Raw times of one size, collected over the rounds.
#[derive(Default)]
struct Samples {
    floor: Vec<Duration>,
    convert: Vec<Duration>,
    stages: [Vec<Duration>; 4],
    convert_error: Option<String>,
    output_bytes: Option<usize>,
}

impl Samples {
    /// One warm-up of each, which also tells whether convert works on this input.
    fn warm_up(input: &str) -> Result<Samples> {
        black_box(floor(black_box(input))?);
        let (output_bytes, convert_error) = match convert(input) {
            Ok(out) => (Some(out.len()), None),
            Err(e) => (None, Some(format!("{e:#}"))),
        };
        Ok(Samples {
            convert_error,
            output_bytes,
            ..Samples::default()
        })
    }

    fn run(&mut self, input: &str) -> Result<()> {
        let start = Instant::now();
        black_box(floor(black_box(input))?);
        self.floor.push(start.elapsed());
        if self.convert_error.is_none() {
            let mut stages = [Duration::ZERO; 4];
            let start = Instant::now();
            black_box(convert_timed(black_box(input), &mut stages)?);
            self.convert.push(start.elapsed());
            for (times, stage) in self.stages.iter_mut().zip(stages) {
                times.push(stage);
            }
        }
        Ok(())
    }

    fn summarize(self) -> Result<Timings> {
        let convert = if self.convert_error.is_none() {
            let mut stages = [Duration::ZERO; 4];
            for (median, times) in stages.iter_mut().zip(self.stages) {
                *median = summarize(times)?.median;
            }
            Some((summarize(self.convert)?, stages))
        } else {
            None
        };
        Ok(Timings {
            floor: summarize(self.floor)?,
            convert,
            convert_error: self.convert_error,
            output_bytes: self.output_bytes,
        })
    }
}

/// Times every input: `runs_per_round[i]` runs of input `i` in each of [`ROUNDS`] rounds.
fn time_all(inputs: &[String], runs_per_round: &[usize]) -> Result<Vec<Timings>> {
    let mut samples = inputs
        .iter()
        .map(|input| Samples::warm_up(input))
        .collect::<Result<Vec<_>>>()?;
    for _ in 0..ROUNDS {
        for ((input, runs), sample) in inputs.iter().zip(runs_per_round).zip(&mut samples) {
            for _ in 0..*runs {
                sample.run(input)?;
            }
        }
    }
    samples.into_iter().map(Samples::summarize).collect()
}

struct SizeResult {
    objects: usize,
    documents: usize,
    input_bytes: usize,
    output_bytes: Option<usize>,
    floor: Timing,
    convert: Option<Timing>,
    stages: Option<[Duration; 4]>,
    convert_error: Option<String>,
    idle_kib: u64,
    floor_kib: u64,
    convert_kib: Option<u64>,
}

/// Timings (in rounds over all sizes), then peak memory of fresh child processes per size.
fn measure(sizes: &[usize], runs_per_round: &[usize]) -> Result<Vec<SizeResult>> {
    let meshes: Vec<SyntheticMesh> = sizes
        .iter()
        .map(|&objects| SyntheticMesh::with_appmesh_objects(objects))
        .collect();
    let inputs: Vec<String> = meshes.iter().map(SyntheticMesh::generate).collect();
    let timings = time_all(&inputs, runs_per_round)?;
    let mut results = Vec::new();
    for ((&objects, (mesh, input)), timings) in
        sizes.iter().zip(meshes.iter().zip(&inputs)).zip(timings)
    {
        let idle_kib = peak_of_child(Case::Idle, objects)?;
        let floor_kib = peak_of_child(Case::Floor, objects)?;
        let convert_kib = match timings.convert {
            Some(_) => Some(peak_of_child(Case::Convert, objects)?),
            None => None,
        };
        results.push(SizeResult {
            objects: mesh.object_count(),
            documents: mesh.object_counts().total(),
            input_bytes: input.len(),
            output_bytes: timings.output_bytes,
            floor: timings.floor,
            convert: timings.convert.map(|(t, _)| t),
            stages: timings.convert.map(|(_, s)| s),
            convert_error: timings.convert_error,
            idle_kib,
            floor_kib,
            convert_kib,
        });
    }
    Ok(results)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

fn verdict(pass: bool) -> &'static str {
    if pass { "PASS" } else { "FAIL" }
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// The 1-minute load average when it exceeds half the CPUs (Linux only).
fn busy_machine() -> Option<f64> {
    let loadavg = std::fs::read_to_string("/proc/loadavg").ok()?;
    let one_minute: f64 = loadavg.split_whitespace().next()?.parse().ok()?;
    (one_minute > cpus() as f64 / 2.0).then_some(one_minute)
}

/// Where convert spends its time: per-stage medians and their growth, first to last size.
fn print_stages(results: &[(usize, SizeResult)]) {
    if results.iter().all(|(_, r)| r.stages.is_none()) {
        return;
    }
    println!();
    print!("convert stages (median) {:>7}", "objects");
    for stage in STAGES {
        print!(" {stage:>11}");
    }
    println!();
    for (_, r) in results {
        if let Some(stages) = r.stages {
            print!("{:>31}", r.objects);
            for stage in stages {
                print!(" {:>11}", ms(stage));
            }
            println!();
        }
    }
    if let (Some((_, small)), Some((_, large))) = (results.first(), results.last())
        && let (Some(s), Some(l)) = (small.stages, large.stages)
        && results.len() > 1
    {
        print!("{:>31}", "growth");
        for (s, l) in s.iter().zip(l) {
            print!(" {:>10.2}x", l.as_secs_f64() / s.as_secs_f64());
        }
        println!();
    }
}

struct Args {
    sizes: Vec<usize>,
    strict: bool,
    child: Option<(Case, usize)>,
    emit: Option<(Emit, usize)>,
}

/// `--emit input|output --objects N`: print the generated manifests or their conversion.
#[derive(Debug, Clone, Copy)]
enum Emit {
    Input,
    Output,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        sizes: vec![1_000, 10_000],
        strict: false,
        child: None,
        emit: None,
    };
    let mut child_case = None;
    let mut emit = None;
    let mut child_objects = None;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--strict" => args.strict = true,
            "--target" => {
                let target = match it.next().as_deref() {
                    Some("istio") => appmesh2istio::convert::Target::Istio,
                    Some("gateway-api") => appmesh2istio::convert::Target::GatewayApi,
                    other => bail!("--target takes istio or gateway-api, not {other:?}"),
                };
                TARGET.get_or_init(|| target);
            }
            "--sizes" => {
                let list = it.next().context("--sizes needs a value like 1000,10000")?;
                args.sizes = list
                    .split(',')
                    .map(|s| s.trim().replace('_', "").parse::<usize>())
                    .collect::<Result<_, _>>()
                    .with_context(|| format!("bad --sizes {list:?}"))?;
                if args.sizes.is_empty() || args.sizes.contains(&0) {
                    bail!("--sizes must list positive object counts");
                }
            }
            "--child" => {
                child_case = Some(Case::parse(&it.next().context("--child needs a case")?)?)
            }
            "--emit" => {
                emit = Some(match it.next().as_deref() {
                    Some("input") => Emit::Input,
                    Some("output") => Emit::Output,
                    other => bail!("--emit takes input or output, not {other:?}"),
                });
            }
            "--objects" => {
                child_objects = Some(it.next().context("--objects needs a number")?.parse()?)
            }
            // `cargo bench` passes --bench to every bench target; accept it harmlessly.
            "--bench" => {}
            "-h" | "--help" => {
                println!(
                    "usage: convert-bench [--sizes 1000,10000] [--strict] [--target istio|gateway-api]\n       \
                     convert-bench --emit input|output --objects N\n\
                     Times converting synthetic App Mesh manifests against parse+serialise (the floor);\n\
                     --emit prints the generated manifests or their conversion instead."
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    if let Some(case) = child_case {
        args.child = Some((case, child_objects.context("--child needs --objects N")?));
    }
    if let Some(what) = emit {
        args.emit = Some((what, child_objects.context("--emit needs --objects N")?));
    }
    Ok(args)
}

fn main() -> Result<ExitCode> {
    let args = parse_args()?;
    if let Some((case, objects)) = args.child {
        child(case, objects)?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some((what, objects)) = args.emit {
        let input = SyntheticMesh::with_appmesh_objects(objects).generate();
        let text = match what {
            Emit::Input => input,
            Emit::Output => convert(&input)?,
        };
        // `| head` closing the pipe early is fine; print! would panic on it.
        let mut stdout = std::io::stdout().lock();
        return match stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
        {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
            _ => Ok(ExitCode::SUCCESS),
        };
    }
    if cfg!(debug_assertions) {
        eprintln!("warning: debug build; run with --release for meaningful figures");
    }

    if let Some(load) = busy_machine() {
        eprintln!(
            "warning: load average {load:.1} on {} CPUs: other processes compete for the CPU, \
             timings will be noisy (peak memory is not affected)",
            cpus()
        );
    }
    let largest = args.sizes.iter().copied().max().unwrap_or_default();
    // Per round, 3 runs of the small sizes, whose runs are short and so the most disturbed by
    // other processes, and 1 of the largest: 21 and 7 runs in all.
    let runs_per_round: Vec<usize> = args
        .sizes
        .iter()
        .map(|&objects| {
            if objects == largest && args.sizes.len() > 1 {
                1
            } else {
                3
            }
        })
        .collect();
    eprintln!(
        "measuring {} App Mesh objects in {ROUNDS} rounds of {} runs after 1 warm-up, then 3 child processes per size...",
        args.sizes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" and "),
        runs_per_round
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" and "),
    );
    let results: Vec<(usize, SizeResult)> = runs_per_round
        .iter()
        .map(|runs| runs * ROUNDS)
        .zip(measure(&args.sizes, &runs_per_round)?)
        .collect();

    let mut all_pass = true;
    println!("convert-bench: synthetic App Mesh manifests -> Istio YAML");
    println!(
        "floor   = serde-saphyr parse (from_multiple -> serde_json::Value) + to_string_multiple"
    );
    println!("convert = {CONVERT_STAGES} (--target {})", target_name());
    println!(
        "allocator = {}",
        if cfg!(feature = "system-allocator") {
            "system (--features system-allocator)"
        } else {
            "mimalloc, as in the kubectl-appmesh2istio binaries"
        }
    );
    println!();
    println!(
        "{:>7} {:>6} {:>9} {:>4} {:>11} {:>11} {:>7}  {:<13} {:>10} {:>10} {:>10} {:>7}",
        "objects",
        "docs",
        "input",
        "runs",
        "floor",
        "convert",
        "ratio",
        "<=2.5x",
        "idle MiB",
        "floor MiB",
        "conv MiB",
        "mem"
    );
    for (runs, r) in &results {
        let (convert, ratio, ratio_verdict) = match r.convert {
            Some(c) => {
                let ratio = c.median.as_secs_f64() / r.floor.median.as_secs_f64();
                all_pass &= ratio <= RATIO_TARGET;
                (
                    ms(c.median),
                    format!("{ratio:.2}x"),
                    verdict(ratio <= RATIO_TARGET),
                )
            }
            None => ("n/a".into(), "n/a".into(), "NOT MEASURED"),
        };
        let (convert_mib, mem) = match r.convert_kib {
            Some(c) => (mib(c), format!("{:.2}x", c as f64 / r.floor_kib as f64)),
            None => ("n/a".into(), "n/a".into()),
        };
        println!(
            "{:>7} {:>6} {:>6} KiB {:>4} {:>11} {:>11} {:>7}  {:<13} {:>10} {:>10} {:>10} {:>7}",
            r.objects,
            r.documents,
            r.input_bytes / 1024,
            runs,
            ms(r.floor.median),
            convert,
            ratio,
            ratio_verdict,
            mib(r.idle_kib),
            mib(r.floor_kib),
            convert_mib,
            mem
        );
    }
    for (_, r) in &results {
        if let Some(c) = r.convert {
            println!(
                "fastest run at {} objects: floor {}, convert {} ({:.2}x)",
                r.objects,
                ms(r.floor.min),
                ms(c.min),
                c.min.as_secs_f64() / r.floor.min.as_secs_f64()
            );
        }
    }
    println!();

    if let (Some((_, small)), Some((_, large))) = (results.first(), results.last())
        && results.len() > 1
    {
        let size_ratio = large.objects as f64 / small.objects as f64;
        let limit = GROWTH_SLACK * size_ratio;
        let floor_growth = large.floor.median.as_secs_f64() / small.floor.median.as_secs_f64();
        print!(
            "growth {}->{} objects ({size_ratio:.1}x input, target <= {limit:.1}x time): floor {floor_growth:.2}x",
            small.objects, large.objects
        );
        match (small.convert, large.convert) {
            (Some(s), Some(l)) => {
                let growth = l.median.as_secs_f64() / s.median.as_secs_f64();
                all_pass &= growth <= limit;
                println!(", convert {growth:.2}x  {}", verdict(growth <= limit));
            }
            _ => println!(", convert n/a  NOT MEASURED"),
        }
    }
    if let Some((_, large)) = results.last() {
        print!(
            "peak memory at {} objects (VmHWM of a fresh process; idle = input generated, no work: {} MiB): floor {} MiB",
            large.objects,
            mib(large.idle_kib),
            mib(large.floor_kib)
        );
        match large.convert_kib {
            Some(c) => {
                let ratio = c as f64 / large.floor_kib as f64;
                all_pass &= ratio <= MEMORY_TARGET;
                println!(
                    ", convert {} MiB = {ratio:.2}x (target <= {MEMORY_TARGET}x)  {}",
                    mib(c),
                    verdict(ratio <= MEMORY_TARGET)
                );
            }
            None => println!(", convert n/a  NOT MEASURED"),
        }
        if let Some(out) = large.output_bytes {
            println!(
                "convert output at {} objects: {} KiB of Istio YAML",
                large.objects,
                out / 1024
            );
        }
    }
    print_stages(&results);
    let mut measured = true;
    for (_, r) in &results {
        if let Some(e) = &r.convert_error {
            measured = false;
            println!("convert not measured at {} objects: {e}", r.objects);
        }
    }
    if args.strict && !(all_pass && measured) {
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
