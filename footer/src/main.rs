//! `kpiscope-footer IN OUT --duckdb-version v1.5.6 --platform linux_amd64 --extension-version v0.1.0`:
//! copies the shared library IN to OUT with DuckDB's metadata footer appended.

use anyhow::{bail, Context, Result};
use kpiscope_footer::{footer, Metadata};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| -> Result<String> {
        let at = args.iter().position(|a| a == name).with_context(|| format!("missing {name}"))?;
        args.get(at + 1).cloned().with_context(|| format!("{name} needs a value"))
    };
    let [input, output] = [args.first(), args.get(1)];
    let (Some(input), Some(output)) = (input, output) else {
        bail!("usage: kpiscope-footer IN OUT --duckdb-version V --platform P --extension-version V");
    };
    let meta = Metadata {
        abi_type: "C_STRUCT_UNSTABLE".into(),
        extension_version: flag("--extension-version")?,
        duckdb_version: flag("--duckdb-version")?,
        platform: flag("--platform")?,
    };
    let mut bytes = std::fs::read(input).with_context(|| format!("reading {input}"))?;
    bytes.extend(footer(&meta).map_err(anyhow::Error::msg)?);
    // Write beside the target and rename, so a loader never sees a half-written file.
    let tmp = format!("{output}.tmp");
    std::fs::write(&tmp, &bytes).with_context(|| format!("writing {tmp}"))?;
    std::fs::rename(&tmp, output).with_context(|| format!("renaming to {output}"))?;
    Ok(())
}
