//! `volatile rules list` and `volatile rules explain ID`.

use super::RulesArgs;
use crate::sources::RuleSources;

fn load(args: &RulesArgs) -> Result<RuleSources, u8> {
    let sources = RuleSources::load(&args.rules).map_err(|e| {
        eprintln!("volatile: {e}");
        2
    })?;
    for error in &sources.errors {
        eprintln!("error: {error}");
    }
    Ok(sources)
}

pub(super) fn list(args: &RulesArgs) -> u8 {
    let sources = match load(args) {
        Ok(s) => s,
        Err(code) => return code,
    };
    for playbook in &sources.playbooks {
        for rule in &playbook.rules {
            let severity = rule.severity.map_or("off", |s| s.name());
            let langs: Vec<&str> = rule.languages.iter().map(|l| l.name()).collect();
            println!(
                "{}\t{}\t{}\t{}\t{}",
                playbook.id,
                rule.standard.as_deref().unwrap_or("-"),
                rule.id,
                severity,
                langs.join(",")
            );
        }
    }
    u8::from(!sources.errors.is_empty()) * 2
}

pub(super) fn catalog(args: &RulesArgs) -> u8 {
    let sources = match load(args) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let shown: Vec<String> = args.rules.iter().map(|p| p.display().to_string()).collect();
    let command = if shown.is_empty() {
        "volatile rules catalog".to_string()
    } else {
        format!("volatile rules catalog --rules {}", shown.join(" --rules "))
    };
    println!("{}", super::catalog::render(&sources, &command));
    u8::from(!sources.errors.is_empty()) * 2
}

pub(super) fn explain(id: &str, args: &RulesArgs) -> u8 {
    let sources = match load(args) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let found = sources
        .playbooks
        .iter()
        .flat_map(|p| p.rules.iter())
        .find(|r| r.id == id);
    let Some(rule) = found else {
        eprintln!("volatile: no rule with id `{id}`");
        return 2;
    };
    println!(
        "{} ({})",
        rule.id,
        rule.severity.map_or("off", |s| s.name())
    );
    println!("playbook:  {}", rule.playbook);
    if let Some(standard) = &rule.standard {
        println!("standard:  {standard}");
    }
    let langs: Vec<&str> = rule.languages.iter().map(|l| l.name()).collect();
    println!("languages: {}", langs.join(", "));
    if let Some(origin) = &rule.origin {
        println!("defined:   {origin}");
    }
    println!("message:   {}", rule.message.as_str());
    if let Some(note) = &rule.note {
        println!("\n{}", note.trim_end());
    }
    if let Some(url) = &rule.url {
        println!("\nsee: {url}");
    }
    for (title, cases) in [
        ("valid", &rule.examples.valid),
        ("invalid", &rule.examples.invalid),
    ] {
        for case in cases {
            println!("\n{title} example:");
            for line in case.lines() {
                println!("    {line}");
            }
        }
    }
    0
}
