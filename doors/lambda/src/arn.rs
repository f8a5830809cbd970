//! execute-api ARNs.
//!
//! An event's method ARN (REST, HTTP 1.0) or route ARN (HTTP 2.0) reads
//! `arn:<partition>:execute-api:<region>:<account>:<api-id>/<stage>/<METHOD>/<path>`.
//! Policies are built from its own partition (`aws`, `aws-cn`,
//! `aws-us-gov`), region, account, API id and stage (`$default` included),
//! never from configuration, so one function serves any API. How a
//! decision's grants become policy statements on it: [`crate::iam`].

/// The methods API Gateway routes; an any-method grant is written out as these.
pub const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// A parsed execute-api ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecuteApiArn {
    /// `aws`, `aws-cn`, `aws-us-gov`, …
    pub partition: String,
    /// e.g. `eu-west-1`.
    pub region: String,
    /// The account id.
    pub account: String,
    /// The API id.
    pub api_id: String,
    /// The stage (`prod`, `$default`, or `*` in console test invocations).
    pub stage: String,
    /// The method as written in the ARN (`GET`; `$default` for an HTTP API's default route).
    pub method: String,
    /// The path with its leading `/` (`/` when the ARN ends after the method).
    pub path: String,
}

impl ExecuteApiArn {
    /// Parse `arn:<partition>:execute-api:<region>:<account>:<api>/<stage>/<method>[/<path>]`.
    /// The path may itself contain `:` and `/`.
    pub fn parse(arn: &str) -> Option<Self> {
        let mut parts = arn.splitn(6, ':');
        let (prefix, partition, service, region, account, resource) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        if prefix != "arn" || service != "execute-api" || partition.is_empty() {
            return None;
        }
        let mut pieces = resource.splitn(4, '/');
        let api_id = pieces.next()?;
        let stage = pieces.next()?;
        let method = pieces.next()?;
        let rest = pieces.next().unwrap_or("");
        if api_id.is_empty() || stage.is_empty() || method.is_empty() {
            return None;
        }
        Some(ExecuteApiArn {
            partition: partition.to_string(),
            region: region.to_string(),
            account: account.to_string(),
            api_id: api_id.to_string(),
            stage: stage.to_string(),
            method: method.to_string(),
            path: format!("/{rest}"),
        })
    }

    /// `arn:<partition>:execute-api:<region>:<account>:<api>/<stage>`.
    pub fn stage_arn(&self) -> String {
        format!(
            "arn:{}:execute-api:{}:{}:{}/{}",
            self.partition, self.region, self.account, self.api_id, self.stage
        )
    }
}

/// `*`, or an HTTP method token without ARN wildcard characters.
pub(crate) fn valid_method(method: &str) -> bool {
    method == "*"
        || (!method.is_empty()
            && method
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/orders/42";

    #[test]
    fn parses_partitions_stages_and_paths() {
        let arn = ExecuteApiArn::parse(ARN).unwrap();
        assert_eq!(arn.partition, "aws");
        assert_eq!(arn.region, "eu-west-1");
        assert_eq!(arn.account, "123456789012");
        assert_eq!(arn.api_id, "abc123");
        assert_eq!(arn.stage, "prod");
        assert_eq!(arn.method, "GET");
        assert_eq!(arn.path, "/orders/42");

        let cn = ExecuteApiArn::parse(
            "arn:aws-cn:execute-api:cn-north-1:111122223333:xyz/$default/POST/a:b/c",
        )
        .unwrap();
        assert_eq!(cn.partition, "aws-cn");
        assert_eq!(cn.stage, "$default");
        assert_eq!(cn.path, "/a:b/c");
        assert_eq!(
            cn.stage_arn(),
            "arn:aws-cn:execute-api:cn-north-1:111122223333:xyz/$default"
        );

        let root =
            ExecuteApiArn::parse("arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/*/GET/")
                .unwrap();
        assert_eq!((root.stage.as_str(), root.path.as_str()), ("*", "/"));
        let bare = ExecuteApiArn::parse("arn:aws:execute-api:us-west-2:1:api/stage/GET").unwrap();
        assert_eq!(bare.path, "/");

        for bad in [
            "",
            "arn:aws:lambda:us-east-1:1:function:f",
            "arn:aws:execute-api:us-east-1:1:api",
            "arn:aws:execute-api:us-east-1:1:api/stage",
            "nope:aws:execute-api:r:a:api/s/GET/x",
            "arn::execute-api:r:a:api/s/GET/x",
        ] {
            assert_eq!(ExecuteApiArn::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn methods_are_tokens_without_wildcards() {
        for ok in ["*", "GET", "get", "X-CUSTOM_1"] {
            assert!(valid_method(ok), "{ok}");
        }
        for bad in ["", "G*T", "GE?", "GET/", "**"] {
            assert!(!valid_method(bad), "{bad}");
        }
    }
}
