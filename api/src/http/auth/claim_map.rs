//! How an identity provider's claim values become our roles and organisations when they are not
//! our own names: Entra ID app roles (`Bufdir.Reporter`) and group ids for organisations, say.
//! A TOML file named by `OIDC_CLAIM_MAP`:
//!
//! ```toml
//! [roles]            # a value of the roles claim -> viewer, reporter, admin, service, approver or auditor
//! "Bufdir.Reporter" = "reporter"
//! [organisations]    # a value of the organisations claim -> an org id
//! "7b0c6e5e-2f4e-4a8e-9d0e-3c1f2a9b8c7d" = "org-demo"
//! ```
//!
//! A table that is there is the whole truth: values it does not name give nothing. Without a
//! table, the claim's values are our own names.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::http::auth::Role;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimMap {
    #[serde(default)]
    pub roles: HashMap<String, Role>,
    #[serde(default)]
    pub organisations: HashMap<String, String>,
}

impl ClaimMap {
    pub fn load(path: &Path) -> anyhow::Result<ClaimMap> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("OIDC_CLAIM_MAP {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("OIDC_CLAIM_MAP {}: {e}", path.display()))
    }

    pub fn role(&self, value: &str) -> Option<Role> {
        if self.roles.is_empty() {
            serde_json::from_value(serde_json::Value::String(value.to_lowercase())).ok()
        } else {
            self.roles.get(value).copied()
        }
    }

    pub fn organisation(&self, value: &str) -> Option<String> {
        if self.organisations.is_empty() {
            Some(value.to_string())
        } else {
            self.organisations.get(value).cloned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_maps_values_and_names_the_only_ones_that_count() {
        let map: ClaimMap = toml::from_str(
            "[roles]\n\"Bufdir.Reporter\" = \"reporter\"\n[organisations]\n\"grp-1\" = \"org-demo\"\n",
        )
        .unwrap();
        assert_eq!(map.role("Bufdir.Reporter"), Some(Role::Reporter));
        assert_eq!(map.role("reporter"), None);
        assert_eq!(map.organisation("grp-1").as_deref(), Some("org-demo"));
        assert_eq!(map.organisation("grp-2"), None);
        let none = ClaimMap::default();
        assert_eq!(none.role("Admin"), Some(Role::Admin));
        assert_eq!(none.organisation("org-x").as_deref(), Some("org-x"));
    }

    #[test]
    fn the_signers_roles_map_like_the_others() {
        let map: ClaimMap = toml::from_str(
            "[roles]\n\"Bufdir.Styreleder\" = \"approver\"\n\"Bufdir.Revisor\" = \"auditor\"\n",
        )
        .unwrap();
        assert_eq!(map.role("Bufdir.Styreleder"), Some(Role::Approver));
        assert_eq!(map.role("Bufdir.Revisor"), Some(Role::Auditor));
        assert_eq!(ClaimMap::default().role("Auditor"), Some(Role::Auditor));
    }

    #[test]
    fn a_misspelt_table_is_an_error() {
        assert!(toml::from_str::<ClaimMap>("[role]\n\"x\" = \"admin\"\n").is_err());
        assert!(toml::from_str::<ClaimMap>("[roles]\n\"x\" = \"boss\"\n").is_err());
    }
}
