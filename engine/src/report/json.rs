//! The report as JSON: its serde shape, pretty-printed, the same as the HTTP API answers.

use std::io::Write;

use super::Report;

/// Writes `report` as pretty-printed JSON followed by a newline.
pub fn write<W: Write>(report: &Report, mut writer: W) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut writer, report)?;
    writer.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    fn render(report: &Report) -> String {
        fixtures::written(|out| write(report, out))
    }

    #[test]
    fn empty_report() {
        insta::assert_snapshot!(render(&Report::default()));
    }

    #[test]
    fn fixture_report() {
        let text = render(&fixtures::report());
        assert!(text.ends_with("}\n"));
        let back: Report = match serde_json::from_str(&text) {
            Ok(back) => back,
            Err(err) => panic!("parse back: {err}"),
        };
        assert_eq!(back, fixtures::report());
        insta::assert_snapshot!(text);
    }
}
