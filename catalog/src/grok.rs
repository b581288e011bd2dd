//! Grok patterns as Glue's grok classifiers and `GrokSerDe` read them: `%{NAME}` names a pattern
//! from the built-in library or the classifier's custom patterns (lines of `NAME regex`),
//! `%{NAME:column}` makes what it matches a column, and `%{NAME:column:type}` gives the column a
//! type (byte, short, int, long, float, double, boolean; anything else is a string). A pattern
//! compiles to one regular expression whose groups are the columns, in order.

use std::collections::HashMap;

/// Glue's built-in patterns (the logstash base set and the crawler's own), without the
/// look-arounds the regex engine does not have.
const BUILT_IN: &str = r#"
USERNAME [a-zA-Z0-9._-]+
USER %{USERNAME}
INT (?:[+-]?(?:[0-9]+))
BASE10NUM [+-]?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)
NUMBER (?:%{BASE10NUM})
BASE16NUM (?:0[xX])?[0-9A-Fa-f]+
BASE16FLOAT [+-]?(?:0[xX])?(?:[0-9A-Fa-f]+(?:\.[0-9A-Fa-f]*)?|\.[0-9A-Fa-f]+)
BOOLEAN (?i:true|false)
POSINT \b(?:[1-9][0-9]*)\b
NONNEGINT \b(?:[0-9]+)\b
WORD \b\w+\b
NOTSPACE \S+
SPACE \s*
DATA .*?
GREEDYDATA .*
QUOTEDSTRING (?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`)
QS %{QUOTEDSTRING}
UUID [A-Fa-f0-9]{8}-(?:[A-Fa-f0-9]{4}-){3}[A-Fa-f0-9]{12}
MAC (?:%{CISCOMAC}|%{WINDOWSMAC}|%{COMMONMAC})
CISCOMAC (?:[A-Fa-f0-9]{4}\.){2}[A-Fa-f0-9]{4}
WINDOWSMAC (?:[A-Fa-f0-9]{2}-){5}[A-Fa-f0-9]{2}
COMMONMAC (?:[A-Fa-f0-9]{2}:){5}[A-Fa-f0-9]{2}
IPV6 (?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,7}:|(?:[0-9A-Fa-f]{1,4}:){1,6}:[0-9A-Fa-f]{1,4}|::(?:[0-9A-Fa-f]{1,4}:){0,5}[0-9A-Fa-f]{1,4}|::)
IPV4 (?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9]?[0-9])
IP (?:%{IPV4}|%{IPV6})
HOSTNAME \b(?:[0-9A-Za-z][0-9A-Za-z-]{0,62})(?:\.(?:[0-9A-Za-z][0-9A-Za-z-]{0,62}))*\.?\b
HOST %{HOSTNAME}
IPORHOST (?:%{IP}|%{HOSTNAME})
HOSTPORT %{IPORHOST}:%{POSINT}
PATH (?:%{UNIXPATH}|%{WINPATH})
UNIXPATH (?:/[\w_%!$@:.,~-]*)+
WINPATH (?:[A-Za-z]+:|\\)(?:\\[^\\?*]*)+
URIPROTO [A-Za-z]+(?:\+[A-Za-z+]+)?
URIHOST %{IPORHOST}(?::%{POSINT})?
URIPATH (?:/[A-Za-z0-9$.+!*'(){},~:;=@#%_\-]*)+
URIPARAM \?[A-Za-z0-9$.+!*'|(){},~@#%&/=:;_?\-\[\]]*
URIPATHPARAM %{URIPATH}(?:%{URIPARAM})?
URI %{URIPROTO}://(?:%{USER}(?::[^@]*)?@)?(?:%{URIHOST})?(?:%{URIPATHPARAM})?
MONTH \b(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|Jun(?:e)?|Jul(?:y)?|Aug(?:ust)?|Sep(?:tember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\b
MONTHNUM (?:0?[1-9]|1[0-2])
MONTHDAY (?:(?:0[1-9])|(?:[12][0-9])|(?:3[01])|[1-9])
DAY (?:Mon(?:day)?|Tue(?:sday)?|Wed(?:nesday)?|Thu(?:rsday)?|Fri(?:day)?|Sat(?:urday)?|Sun(?:day)?)
YEAR [0-9]{2,4}
HOUR (?:2[0123]|[01]?[0-9])
MINUTE (?:[0-5][0-9])
SECOND (?:(?:[0-5][0-9]|60)(?:[:.,][0-9]+)?)
TIME %{HOUR}:%{MINUTE}(?::%{SECOND})
DATE_US %{MONTHNUM}[/-]%{MONTHDAY}[/-]%{YEAR}
DATE_EU %{MONTHDAY}[./-]%{MONTHNUM}[./-]%{YEAR}
ISO8601_TIMEZONE (?:Z|[+-]%{HOUR}(?::?%{MINUTE}))
ISO8601_SECOND (?:%{SECOND}|60)
TIMESTAMP_ISO8601 %{YEAR}-%{MONTHNUM}-%{MONTHDAY}[T ]%{HOUR}:?%{MINUTE}(?::?%{SECOND})?%{ISO8601_TIMEZONE}?
DATE %{DATE_US}|%{DATE_EU}
DATESTAMP %{DATE}[- ]%{TIME}
TZ (?:[PMCE][SD]T|UTC)
DATESTAMP_RFC822 %{DAY} %{MONTH} %{MONTHDAY} %{YEAR} %{TIME} %{TZ}
DATESTAMP_OTHER %{DAY} %{MONTH} %{MONTHDAY} %{TIME} %{TZ} %{YEAR}
SYSLOGTIMESTAMP %{MONTH} +%{MONTHDAY} %{TIME}
PROG [\w._/%-]+
SYSLOGPROG %{PROG:program}(?:\[%{POSINT:pid}\])?
SYSLOGHOST %{IPORHOST}
SYSLOGFACILITY <%{NONNEGINT:facility}.%{NONNEGINT:priority}>
HTTPDATE %{MONTHDAY}/%{MONTH}/%{YEAR}:%{TIME} %{INT}
SYSLOGBASE %{SYSLOGTIMESTAMP:timestamp} (?:%{SYSLOGFACILITY} )?%{SYSLOGHOST:logsource} %{SYSLOGPROG}:
COMMONAPACHELOG %{IPORHOST:clientip} %{USER:ident} %{USER:auth} \[%{HTTPDATE:timestamp}\] "(?:%{WORD:verb} %{NOTSPACE:request}(?: HTTP/%{NUMBER:httpversion})?|%{DATA:rawrequest})" %{NUMBER:response} (?:%{NUMBER:bytes}|-)
COMBINEDAPACHELOG %{COMMONAPACHELOG} %{QS:referrer} %{QS:agent}
LOGLEVEL (?:[Aa]lert|ALERT|[Tt]race|TRACE|[Dd]ebug|DEBUG|[Nn]otice|NOTICE|[Ii]nfo|INFO|[Ww]arn?(?:ing)?|WARN?(?:ING)?|[Ee]rr?(?:or)?|ERR?(?:OR)?|[Cc]rit?(?:ical)?|CRIT?(?:ICAL)?|[Ff]atal|FATAL|[Ss]evere|SEVERE|EMERG(?:ENCY)?|[Ee]merg(?:ency)?)
CRAWLERLOGLEVEL (?:FATAL|ERROR|WARN|INFO|DEBUG|TRACE)
MESSAGEPREFIX [^\]]*
"#;

/// How deep patterns may name patterns: deeper is a cycle.
const MAX_DEPTH: usize = 32;

/// A compiled grok pattern.
#[derive(Debug, Clone)]
pub struct Grok {
    regex: regex::Regex,
    /// Each column's name and Hive type, in the order of the regex's groups 1, 2, ...
    pub columns: Vec<(String, String)>,
}

fn library(custom: &str) -> HashMap<String, String> {
    let mut patterns = HashMap::new();
    // Custom patterns come second: they may redefine a built-in one.
    for line in BUILT_IN.lines().chain(custom.lines()) {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((name, regex)) = line.split_once(char::is_whitespace) {
            patterns.insert(name.to_string(), regex.trim().to_string());
        }
    }
    patterns
}

/// A typed grok field's Hive type.
fn hive_type(t: Option<&str>) -> String {
    match t.map(str::to_ascii_lowercase).as_deref() {
        Some("byte") => "tinyint",
        Some("short") => "smallint",
        Some("int") | Some("integer") => "int",
        Some("long") => "bigint",
        Some("float") => "float",
        Some("double") => "double",
        Some("boolean") => "boolean",
        _ => "string",
    }
    .into()
}

fn expand(pattern: &str, library: &HashMap<String, String>, depth: usize, columns: &mut Vec<(String, String)>) -> Result<String, String> {
    if depth > MAX_DEPTH {
        return Err("grok patterns name each other in a cycle".into());
    }
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(start) = rest.find("%{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| format!("unclosed %{{ in grok pattern {pattern:?}"))?;
        let mut parts = after[..end].splitn(3, ':');
        let name = parts.next().unwrap_or_default();
        let column = parts.next().filter(|c| !c.is_empty());
        let ty = parts.next();
        let body = library.get(name).ok_or_else(|| format!("unknown grok pattern %{{{name}}}"))?;
        match column {
            Some(column) => {
                // The column's group first, then those of the patterns inside it.
                let at = columns.len();
                columns.push((column.to_lowercase(), hive_type(ty)));
                let inner = expand(body, library, depth + 1, columns)?;
                out.push_str(&format!("(?P<c{at}>{inner})"));
            }
            None => {
                let inner = expand(body, library, depth + 1, columns)?;
                out.push_str(&format!("(?:{inner})"));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Unnamed groups written into a pattern by hand, made non-capturing so that groups and
/// columns stay one to one.
fn uncapture(regex: &str) -> String {
    let mut out = String::with_capacity(regex.len());
    let mut chars = regex.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            '(' if !in_class && chars.peek() != Some(&'?') => out.push_str("(?:"),
            _ => out.push(c),
        }
    }
    out
}

impl Grok {
    /// Compiles `pattern` with the built-in patterns and the custom ones (lines of `NAME regex`).
    pub fn compile(pattern: &str, custom_patterns: &str) -> Result<Grok, String> {
        let library: HashMap<String, String> = library(custom_patterns).into_iter().map(|(k, v)| (k, uncapture(&v))).collect();
        let mut columns = Vec::new();
        let expanded = expand(&uncapture(pattern), &library, 0, &mut columns)?;
        let mut seen = std::collections::HashSet::new();
        for (name, _) in &columns {
            if !seen.insert(name.clone()) {
                return Err(format!("grok pattern names column {name} twice"));
            }
        }
        let regex = regex::RegexBuilder::new(&expanded).size_limit(16 << 20).build().map_err(|e| format!("invalid grok pattern: {e}"))?;
        Ok(Grok { regex, columns })
    }

    /// The columns' values in a line, `None` for a column whose part did not take part; no
    /// match at all is `None`.
    pub fn parse<'a>(&self, line: &'a str) -> Option<Vec<Option<&'a str>>> {
        let caps = self.regex.captures(line)?;
        Some((0..self.columns.len()).map(|i| caps.name(&format!("c{i}")).map(|m| m.as_str())).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_and_types() {
        let g =
            Grok::compile("%{TIMESTAMP_ISO8601:ts} \\[%{MESSAGEPREFIX:prefix}\\] %{CRAWLERLOGLEVEL:level} : %{INT:code:int} %{GREEDYDATA:msg}", "")
                .unwrap();
        let names: Vec<(&str, &str)> = g.columns.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
        assert_eq!(names, [("ts", "string"), ("prefix", "string"), ("level", "string"), ("code", "int"), ("msg", "string")]);
        let v = g.parse("2024-01-02T03:04:05Z [crawler-1] INFO : 42 all done (x)").unwrap();
        assert_eq!(v, [Some("2024-01-02T03:04:05Z"), Some("crawler-1"), Some("INFO"), Some("42"), Some("all done (x)")]);
        assert!(g.parse("no match here").is_none());
    }

    #[test]
    fn custom_and_nested_names() {
        let g = Grok::compile("%{ORDER:order} by %{USERNAME:who}", "ORDER ORD-%{INT:number}\nOTHER x").unwrap();
        assert_eq!(g.columns.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(), ["order", "number", "who"]);
        assert_eq!(g.parse("ORD-17 by ann").unwrap(), [Some("ORD-17"), Some("17"), Some("ann")]);
        let apache = Grok::compile("%{COMBINEDAPACHELOG}", "").unwrap();
        let line = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326 "http://x/" "Mozilla/4.08""#;
        let v = apache.parse(line).unwrap();
        let get = |c: &str| v[apache.columns.iter().position(|x| x.0 == c).unwrap()];
        assert_eq!(
            (get("clientip"), get("verb"), get("response"), get("agent")),
            (Some("127.0.0.1"), Some("GET"), Some("200"), Some("\"Mozilla/4.08\""))
        );
    }

    #[test]
    fn bad_patterns() {
        assert!(Grok::compile("%{NOPE:x}", "").unwrap_err().contains("unknown grok pattern"));
        assert!(Grok::compile("%{A:x}", "A %{B}\nB %{A}").unwrap_err().contains("cycle"));
        assert!(Grok::compile("%{INT:x", "").is_err());
        assert!(Grok::compile("%{INT:x} %{INT:x}", "").unwrap_err().contains("twice"));
        assert!(Grok::compile("(unclosed", "").is_err());
    }
}
