//! The example rounds' supplier market: per supplier category a few dominant suppliers and a long
//! tail, with the spellings organizations really type. From it come the round's alias table
//! (`suppliers.csv`) and each organization's answers to "name your most critical suppliers"
//! (C4, most critical first) and "how many alternatives for the most critical function" (C5).
//! Some spellings are deliberately missing from the alias table (typos, local firms) so that
//! name resolution, its review table and `supplyrisk suppliers suggest` have work to do.

use super::Rng;

/// A supplier: canonical name, market weight, spellings in the alias table (the canonical name is
/// always one), and whether the alias table knows it at all.
struct Supplier {
    name: &'static str,
    weight: f64,
    spellings: &'static [&'static str],
    in_table: bool,
}

const fn s(name: &'static str, weight: f64, spellings: &'static [&'static str]) -> Supplier {
    Supplier {
        name,
        weight,
        spellings,
        in_table: true,
    }
}

const fn local(name: &'static str, weight: f64, spellings: &'static [&'static str]) -> Supplier {
    Supplier {
        name,
        weight,
        spellings,
        in_table: false,
    }
}

/// Category code (the C3 option codes), how critical the category usually is (higher = named
/// first), the log-odds of "no alternative" when it holds the most critical supplier, and its
/// suppliers.
const MARKET: [(&str, f64, f64, &[Supplier]); 15] = [
    (
        "ehr",
        3.0,
        0.9,
        &[
            s(
                "Epic",
                0.52,
                &[
                    "EPIC",
                    "Epic Systems",
                    "Epic Systems Corp.",
                    "EPIC systems",
                    "Epic Systems Corporation",
                ],
            ),
            s(
                "Oracle Health",
                0.2,
                &[
                    "Cerner",
                    "Oracle Health (Cerner)",
                    "Cerner Corporation",
                    "Oracle Cerner",
                ],
            ),
            s(
                "MEDITECH",
                0.12,
                &["Meditech", "Medical Information Technology, Inc."],
            ),
            s(
                "athenahealth",
                0.07,
                &["Athena Health", "athenahealth, Inc."],
            ),
            s("Veradigm", 0.04, &["Allscripts", "Veradigm (Allscripts)"]),
            s("eClinicalWorks", 0.03, &["eCW", "eClinical Works"]),
            s("NextGen Healthcare", 0.02, &["NextGen"]),
        ],
    ),
    (
        "clearinghouse",
        2.6,
        0.5,
        &[
            s(
                "Change Healthcare",
                0.55,
                &[
                    "Change Healthcare Inc.",
                    "Optum Change Healthcare",
                    "Change HC",
                    "CHC (Optum)",
                ],
            ),
            s("Availity", 0.2, &["Availity LLC", "Availity, L.L.C."]),
            s("Waystar", 0.13, &["Waystar Health"]),
            s("Experian Health", 0.06, &["Experian"]),
            s(
                "TriZetto",
                0.04,
                &["Cognizant TriZetto", "TriZetto Provider Solutions"],
            ),
            s("Claim.MD", 0.02, &["ClaimMD"]),
        ],
    ),
    (
        "cloud",
        2.0,
        -0.6,
        &[
            s("Microsoft Azure", 0.42, &["Azure", "MS Azure"]),
            s("Amazon Web Services", 0.38, &["AWS", "Amazon AWS"]),
            s("Google Cloud", 0.14, &["GCP", "Google Cloud Platform"]),
            s(
                "Oracle Cloud Infrastructure",
                0.06,
                &["OCI", "Oracle Cloud"],
            ),
        ],
    ),
    (
        "saas",
        1.0,
        -0.8,
        &[
            s("Microsoft 365", 0.35, &["Office 365", "O365", "M365"]),
            s("Workday", 0.2, &["Workday, Inc."]),
            s("Salesforce", 0.15, &["Salesforce.com", "SFDC"]),
            s("ServiceNow", 0.15, &["Service Now"]),
            s("Zoom", 0.08, &["Zoom Video Communications"]),
            s("UKG", 0.07, &["Kronos", "UKG (Kronos)"]),
        ],
    ),
    (
        "msp",
        1.0,
        -0.4,
        &[
            s("CDW", 0.22, &["CDW Corporation", "CDW Healthcare"]),
            s("CloudWave", 0.16, &["Cloudwave"]),
            s("NTT DATA", 0.14, &["NTT Data Services"]),
            s("Ensono", 0.1, &["Ensono LP"]),
            s("Optimum Healthcare IT", 0.08, &["Optimum HIT"]),
            local("Summit Technology Group", 0.1, &["Summit Tech Group"]),
            local("Bluewave IT Partners", 0.1, &["BlueWave IT"]),
            local("Tri-State Managed Services", 0.1, &[]),
        ],
    ),
    (
        "device",
        1.5,
        0.2,
        &[
            s("Philips", 0.25, &["Philips Healthcare", "Royal Philips"]),
            s(
                "GE HealthCare",
                0.25,
                &["GE Healthcare", "GE Medical Systems"],
            ),
            s("Siemens Healthineers", 0.18, &["Siemens"]),
            s("Medtronic", 0.15, &["Medtronic plc"]),
            s("Baxter", 0.1, &["Baxter International"]),
            s(
                "BD",
                0.07,
                &["Becton Dickinson", "Becton, Dickinson and Company"],
            ),
        ],
    ),
    (
        "pbm",
        1.8,
        0.0,
        &[
            s("McKesson", 0.3, &["McKesson Corporation", "McKesson Corp."]),
            s(
                "Cencora",
                0.25,
                &["AmerisourceBergen", "Cencora (AmerisourceBergen)"],
            ),
            s("Cardinal Health", 0.25, &["Cardinal"]),
            s(
                "Express Scripts",
                0.1,
                &["ESI", "Express Scripts (Evernorth)"],
            ),
            s("CVS Caremark", 0.1, &["Caremark"]),
        ],
    ),
    (
        "lab",
        1.5,
        -0.2,
        &[
            s(
                "Quest Diagnostics",
                0.45,
                &["Quest", "Quest Diagnostics Inc."],
            ),
            s(
                "Labcorp",
                0.45,
                &["LabCorp", "Laboratory Corporation of America"],
            ),
            s("ARUP Laboratories", 0.1, &["ARUP"]),
        ],
    ),
    (
        "telecom",
        0.8,
        -0.5,
        &[
            s("Verizon", 0.4, &["Verizon Business"]),
            s("AT&T", 0.35, &["ATT", "AT and T"]),
            s("Lumen", 0.25, &["CenturyLink", "Lumen Technologies"]),
        ],
    ),
    (
        "identity",
        1.2,
        -0.3,
        &[
            s(
                "Microsoft Entra ID",
                0.45,
                &["Azure AD", "Azure Active Directory", "Entra ID"],
            ),
            s("Okta", 0.4, &["Okta, Inc."]),
            s("Ping Identity", 0.15, &["Ping"]),
        ],
    ),
    (
        "banking",
        0.6,
        -0.6,
        &[
            s("JPMorgan Chase", 0.35, &["Chase", "J.P. Morgan"]),
            s("Bank of America", 0.3, &["BofA"]),
            s("Wells Fargo", 0.2, &["Wells Fargo Bank"]),
            s("InstaMed", 0.15, &["Instamed (J.P. Morgan)"]),
        ],
    ),
    (
        "distributor",
        1.1,
        -0.2,
        &[
            s("Medline", 0.4, &["Medline Industries, LP"]),
            s("Owens & Minor", 0.3, &["Owens and Minor"]),
            s("Henry Schein", 0.15, &["Henry Schein Medical"]),
            s("Concordance Healthcare Solutions", 0.15, &["Concordance"]),
        ],
    ),
    (
        "bpo",
        0.9,
        -0.3,
        &[
            s("R1 RCM", 0.4, &["R1"]),
            s("Ensemble Health Partners", 0.3, &["Ensemble"]),
            s("Conifer Health Solutions", 0.3, &["Conifer"]),
        ],
    ),
    (
        "analytics",
        0.7,
        -0.8,
        &[
            s("Health Catalyst", 0.3, &["HealthCatalyst"]),
            s("Nuance", 0.3, &["Nuance DAX", "Microsoft Nuance"]),
            s("Innovaccer", 0.2, &[]),
            s("Arcadia", 0.2, &["Arcadia.io"]),
        ],
    ),
    (
        "other",
        0.5,
        -0.5,
        &[
            s("Citrix", 0.4, &["Cloud Software Group (Citrix)"]),
            s("Iron Mountain", 0.3, &[]),
            s("Imprivata", 0.3, &[]),
        ],
    ),
];

/// The alias table the example rounds ship (`suppliers.csv`): every canonical name and listed
/// spelling of the suppliers the task group has reviewed.
pub fn alias_table_csv() -> String {
    let mut out = String::from("alias,canonical,category\n");
    let quote = |x: &str| {
        if x.contains([',', '"']) {
            format!("\"{}\"", x.replace('"', "\"\""))
        } else {
            x.to_string()
        }
    };
    for (cat, _, _, suppliers) in MARKET {
        for sup in suppliers.iter().filter(|x| x.in_table) {
            for alias in std::iter::once(&sup.name).chain(sup.spellings) {
                out.push_str(&format!("{},{},{cat}\n", quote(alias), quote(sup.name)));
            }
        }
    }
    out
}

/// What an organization types for one supplier: mostly the usual name, sometimes a listed
/// spelling, a case variant with a legal suffix, or a one-letter typo.
fn spelling(rng: &mut Rng, sup: &Supplier) -> String {
    let r = rng.uniform();
    if r < 0.6 || sup.spellings.is_empty() && r < 0.8 {
        sup.name.to_string()
    } else if r < 0.85 && !sup.spellings.is_empty() {
        (*rng.pick(sup.spellings)).to_string()
    } else if r < 0.93 {
        let suffix = *rng.pick(&[" Inc.", ", Inc", " LLC", " Corp", ""]);
        let base = if rng.chance(0.5) {
            sup.name.to_uppercase()
        } else {
            sup.name.to_lowercase()
        };
        format!("{base}{suffix}")
    } else {
        // Drop one letter after the first word, so the name keeps its first word.
        let chars: Vec<char> = sup.name.chars().collect();
        let start = sup.name.find(' ').map_or(2, |p| p + 2);
        if chars.len() <= start + 2 {
            return sup.name.to_string();
        }
        let k = start + rng.below(chars.len() - start - 1);
        super::without_char(sup.name, k)
    }
}

fn draw<'a>(rng: &mut Rng, suppliers: &'a [Supplier], large: f64) -> &'a Supplier {
    // The dominant supplier is more dominant among large organizations.
    let w: Vec<f64> = suppliers
        .iter()
        .enumerate()
        .map(|(i, x)| if i == 0 { x.weight * large } else { x.weight })
        .collect();
    let total: f64 = w.iter().sum();
    let mut u = rng.uniform() * total;
    for (x, wi) in suppliers.iter().zip(&w) {
        if u < *wi {
            return x;
        }
        u -= wi;
    }
    &suppliers[suppliers.len() - 1]
}

/// One organization's C4 text (most critical first) and C5 code, from its C3 categories.
/// `year_shift` lowers "no alternative" in later rounds (organizations added fallbacks).
pub fn answers(
    rng: &mut Rng,
    categories: &[String],
    size: usize,
    year_shift: f64,
) -> (String, &'static str) {
    let mut cats: Vec<(f64, usize)> = categories
        .iter()
        .filter_map(|c| MARKET.iter().position(|m| m.0 == c))
        .map(|i| (MARKET[i].1 + 0.7 * rng.normal(), i))
        .collect();
    if cats.is_empty() {
        cats.push((0.0, 2));
    }
    cats.sort_by(|a, b| b.0.total_cmp(&a.0));
    let k = 1 + rng.below(5);
    let large = [0.6, 1.0, 1.7][size];
    let mut names: Vec<String> = Vec::new();
    let mut chosen: Vec<&str> = Vec::new();
    for j in 0..k {
        let (_, m) = cats[j % cats.len()];
        let sup = draw(rng, MARKET[m].3, large);
        if chosen.contains(&sup.name) {
            continue;
        }
        chosen.push(sup.name);
        names.push(spelling(rng, sup));
    }
    // Some type a comma-separated list into the box instead of one name per line.
    let separator = if names.len() > 1 && rng.chance(0.08) {
        ", "
    } else {
        "; "
    };
    let first = cats[0].1;
    let size_effect = [0.6, 0.0, -0.6][size];
    let p_none = super::sigmoid(MARKET[first].2 + size_effect - year_shift + 0.4 * rng.normal());
    let alt = if rng.chance(p_none) {
        "zero"
    } else if rng.chance([0.6, 0.5, 0.35][size]) {
        "one"
    } else {
        "two_plus"
    };
    (names.join(separator), alt)
}
