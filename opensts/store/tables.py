"""The relational schema (SQLAlchemy Core). Alembic migrations create and evolve it.

Secrets are stored only as ``SecretCipher`` ciphertexts (``*_sealed`` columns).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

# Global key/value facts: schema generation counter used for cache invalidation across processes.
meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# The change log (store/changes.py): the entities each generation's write touched, so caches drop
# only those. Pruned to the last changes.KEEP_GENERATIONS generations.
changes = Table(
    "changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("generation", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("key", String(2048), nullable=False),
    Index("ix_changes_generation", "generation"),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(12), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("partition", String(32), nullable=False, server_default="aws"),
    Column("created_at", BigInteger, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", String(32), primary_key=True),  # AIDA…
    Column("account_id", String(12), ForeignKey("accounts.id"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("name_lower", String(64), nullable=False),
    Column("path", String(512), nullable=False, server_default="/"),
    Column("created_at", BigInteger, nullable=False),
    Column("permissions_boundary_arn", String(2048), nullable=True),  # added by migration 0002
    Index("ux_users_account_name", "account_id", "name_lower", unique=True),
    # a policy's boundary uses, counted (ListPolicies) and listed by name (ListEntitiesForPolicy; 0013)
    Index("ix_users_boundary_name", "permissions_boundary_arn", "account_id", "name_lower"),
)

access_keys = Table(
    "access_keys",
    metadata,
    Column("id", String(32), primary_key=True),  # AKIA…
    Column("account_id", String(12), ForeignKey("accounts.id"), nullable=False),
    Column("user_id", String(32), ForeignKey("users.id"), nullable=True),  # NULL: the root user
    Column("secret_sealed", LargeBinary, nullable=False),
    Column("status", String(16), nullable=False, server_default="Active"),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_access_keys_user", "user_id"),
)

user_policies = Table(
    "user_policies",
    metadata,
    Column("user_id", String(32), ForeignKey("users.id"), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("document", Text, nullable=False),
)

# Token-sealing keys (AES-256-GCM), named by kid; each sealed under the master key.
sealing_keys = Table(
    "sealing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("region", String(32), nullable=False),
    Column("key_sealed", LargeBinary, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("retired_at", BigInteger, nullable=True),
)

# -- IAM entities (migration 0002) -------------------------------------------------------------

account_settings = Table(
    "account_settings",
    metadata,
    Column("account_id", String(12), ForeignKey("accounts.id"), primary_key=True),
    Column("global_endpoint_token_version", Integer, nullable=False, server_default="1"),
)

roles = Table(
    "roles",
    metadata,
    Column("id", String(32), primary_key=True),  # AROA…
    Column("account_id", String(12), ForeignKey("accounts.id"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("name_lower", String(64), nullable=False),
    Column("path", String(512), nullable=False, server_default="/"),
    Column("trust_policy", Text, nullable=False),
    Column("description", String(1000), nullable=True),
    Column("max_session_duration", Integer, nullable=False, server_default="3600"),
    Column("permissions_boundary_arn", String(2048), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    # JSON: user/role ARN named by the trust policy → its unique id when the policy was saved
    Column("trust_principal_ids", Text, nullable=True),  # added by migration 0005
    Index("ux_roles_account_name", "account_id", "name_lower", unique=True),
    # a policy's boundary uses, counted (ListPolicies) and listed by name (ListEntitiesForPolicy; 0013)
    Index("ix_roles_boundary_name", "permissions_boundary_arn", "account_id", "name_lower"),
)

role_policies = Table(
    "role_policies",
    metadata,
    Column("role_id", String(32), ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("document", Text, nullable=False),
)

managed_policies = Table(
    "managed_policies",
    metadata,
    Column("arn", String(2048), primary_key=True),
    Column("id", String(32), nullable=False, unique=True),  # ANPA…
    Column("account_id", String(12), nullable=True),  # NULL: an AWS managed policy
    Column("name", String(128), nullable=False),
    Column("path", String(512), nullable=False, server_default="/"),
    Column("description", String(1000), nullable=True),
    Column("default_version", String(16), nullable=False, server_default="v1"),
    Column("next_version", Integer, nullable=False, server_default="2"),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_managed_policies_account_name", "account_id", "name", "id"),  # ListPolicies' keyset (0012)
)

policy_versions = Table(
    "policy_versions",
    metadata,
    Column("policy_arn", String(2048), ForeignKey("managed_policies.arn", ondelete="CASCADE"), primary_key=True),
    Column("version_id", String(16), primary_key=True),
    Column("document", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# entity_type: "user" | "role"; entity_id: AIDA…/AROA…
policy_attachments = Table(
    "policy_attachments",
    metadata,
    Column("entity_type", String(8), primary_key=True),
    Column("entity_id", String(32), primary_key=True),
    Column("policy_arn", String(2048), primary_key=True),
    Index("ix_policy_attachments_arn", "policy_arn"),
)

# entity_type: "user" | "role" | "policy" | "oidc" | "saml" | "mfa"; keys unique case-insensitively
tags = Table(
    "tags",
    metadata,
    Column("entity_type", String(8), primary_key=True),
    Column("entity_id", String(2048), primary_key=True),
    Column("key_lower", String(128), primary_key=True),
    Column("key", String(128), nullable=False),
    Column("value", String(256), nullable=False),
)

oidc_providers = Table(
    "oidc_providers",
    metadata,
    Column("arn", String(2048), primary_key=True),
    Column("account_id", String(12), ForeignKey("accounts.id"), nullable=False),
    Column("url", String(255), nullable=False),  # without https://, as in the ARN
    Column("client_ids", Text, nullable=False, server_default="[]"),  # JSON list
    Column("thumbprints", Text, nullable=False, server_default="[]"),  # JSON list
    Column("created_at", BigInteger, nullable=False),
)

saml_providers = Table(
    "saml_providers",
    metadata,
    Column("arn", String(2048), primary_key=True),
    Column("account_id", String(12), ForeignKey("accounts.id"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("metadata_document", Text, nullable=False),
    Column("valid_until", BigInteger, nullable=True),
    Column("created_at", BigInteger, nullable=False),
)

mfa_devices = Table(
    "mfa_devices",
    metadata,
    Column("serial", String(256), primary_key=True),  # arn:aws:iam::ACCT:mfa/NAME
    Column("account_id", String(12), ForeignKey("accounts.id"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("path", String(512), nullable=False, server_default="/"),
    Column("seed_sealed", LargeBinary, nullable=False),  # base32 TOTP seed, sealed under the master key
    Column("user_id", String(32), nullable=True),  # set by EnableMFADevice
    Column("enabled_at", BigInteger, nullable=True),
    Column("last_step", Integer, nullable=False, server_default="0"),  # replay protection
    Column("created_at", BigInteger, nullable=False),
    Index("ix_mfa_devices_account_serial", "account_id", "serial"),  # ListVirtualMFADevices' keyset (0012)
    Index("ix_mfa_devices_user_serial", "user_id", "serial"),  # ListMFADevices' keyset (0013)
)

# -- Regions (migration 0003) ---------------------------------------------------------------------

# One row per account and Region the account changed: an opt-in Region's status
# (ENABLED | ENABLING | DISABLING | DISABLED) and STS activation in a Region enabled by default.
account_regions = Table(
    "account_regions",
    metadata,
    Column("account_id", String(12), ForeignKey("accounts.id"), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("opt_status", String(16), nullable=True),
    Column("sts_active", Integer, nullable=True),  # NULL: default (active); 0: deactivated
)

# -- Federation (migration 0004) ------------------------------------------------------------------

# Outbound web identity federation (GetWebIdentityToken), per account: the issuer id (a UUID that
# names the account's issuer URL) survives Disable/Enable so relying parties keep trusting it.
outbound_federation = Table(
    "outbound_federation",
    metadata,
    Column("account_id", String(12), ForeignKey("accounts.id"), primary_key=True),
    Column("issuer_id", String(64), nullable=False, unique=True),
    Column("enabled", Integer, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# Signing keys of the outbound issuers: one per algorithm and rotation slot (deterministic, so
# concurrent workers agree on it); private key PEM sealed under the master key.
federation_signing_keys = Table(
    "federation_signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("alg", String(16), nullable=False),
    Column("slot", Integer, nullable=False),
    Column("key_sealed", LargeBinary, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_federation_signing_keys_alg_slot", "alg", "slot", unique=True),
)

# SAML assertion ids already used (replay protection), kept until the assertion expires.
saml_assertion_ids = Table(
    "saml_assertion_ids",
    metadata,
    Column("assertion_key", String(128), primary_key=True),  # sha256(issuer + ID)
    Column("expires_at", BigInteger, nullable=False),
)

# -- Organizations (migration 0007) ---------------------------------------------------------------

# An organization: its management account, the id of its one root, the feature set, the IAM
# features enabled for it (centralized root access: RootCredentialsManagement, RootSessions) and
# the AWS services given trusted access — both comma-separated, small sets.
organizations = Table(
    "organizations",
    metadata,
    Column("id", String(34), primary_key=True),  # o-…
    Column("management_account_id", String(12), ForeignKey("accounts.id"), nullable=False, unique=True),
    Column("root_id", String(32), nullable=False),  # r-…
    Column("feature_set", String(32), nullable=False),
    Column("iam_features", Text, nullable=False, server_default=""),
    Column("service_access", Text, nullable=False, server_default=""),
    Column("policy_types", Text, nullable=False, server_default=""),  # enabled on the root: SERVICE_CONTROL_POLICY
    Column("created_at", BigInteger, nullable=False),
)

# Member accounts (the management account is not listed here): how and when each joined; the
# CreateAccount request that created it, for DescribeCreateAccountStatus.
organization_accounts = Table(
    "organization_accounts",
    metadata,
    Column("account_id", String(12), ForeignKey("accounts.id"), primary_key=True),
    Column("organization_id", String(34), ForeignKey("organizations.id"), nullable=False),
    Column("email", String(64), nullable=False),
    Column("joined_method", String(16), nullable=False),  # CREATED | INVITED
    Column("joined_at", BigInteger, nullable=False),
    Column("create_request_id", String(40), nullable=True, unique=True),
    Column("parent_id", String(80), nullable=True),  # an OU id; NULL: directly under the root
    Index("ix_organization_accounts_org", "organization_id"),
    Index("ix_organization_accounts_joined", "organization_id", "joined_at", "account_id"),  # keyset (0012)
)

# Organizational units: a tree under the organization's root.
organizational_units = Table(
    "organizational_units",
    metadata,
    Column("id", String(80), primary_key=True),  # ou-…
    Column("organization_id", String(34), ForeignKey("organizations.id"), nullable=False),
    Column("parent_id", String(80), nullable=False),  # the root id or another OU id
    Column("name", String(128), nullable=False),
    Index("ix_organizational_units_parent", "parent_id"),
    Index("ix_organizational_units_parent_name", "parent_id", "name", "id"),  # keyset (0013)
)

# Organization policies (service control policies) and what they are attached to (the root, OUs,
# accounts). The AWS managed FullAWSAccess is not stored: attachments name it by id.
organization_policies = Table(
    "organization_policies",
    metadata,
    Column("id", String(130), primary_key=True),  # p-…
    Column("organization_id", String(34), ForeignKey("organizations.id"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("description", String(512), nullable=False, server_default=""),
    Column("type", String(64), nullable=False),
    Column("content", Text, nullable=False),
    Index("ix_organization_policies_org_name", "organization_id", "name", "id"),  # keyset (0013)
)

organization_policy_targets = Table(
    "organization_policy_targets",
    metadata,
    Column("policy_id", String(130), primary_key=True),
    Column("target_id", String(100), primary_key=True),
    Column("organization_id", String(34), ForeignKey("organizations.id"), nullable=False),
    Index("ix_organization_policy_targets_target", "target_id"),
)

# Delegated administrators: a member account trusted to administer one AWS service for the org.
delegated_administrators = Table(
    "delegated_administrators",
    metadata,
    Column("account_id", String(12), ForeignKey("accounts.id"), primary_key=True),
    Column("service_principal", String(128), primary_key=True),
    Column("organization_id", String(34), ForeignKey("organizations.id"), nullable=False),
    Column("registered_at", BigInteger, nullable=False),
    Index("ix_delegated_administrators_org", "organization_id", "account_id", "registered_at"),  # keyset (0013)
)

# Invitations (InviteAccountToOrganization → AcceptHandshake): one row per handshake, its state.
handshakes = Table(
    "handshakes",
    metadata,
    Column("id", String(40), primary_key=True),  # h-…
    Column("organization_id", String(34), ForeignKey("organizations.id"), nullable=False),
    Column("target_account_id", String(12), nullable=False),
    Column("state", String(16), nullable=False),  # OPEN | ACCEPTED | DECLINED | CANCELED
    Column("notes", Text, nullable=True),
    Column("requested_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Index("ix_handshakes_target", "target_account_id"),
    Index("ix_handshakes_org_requested", "organization_id", "requested_at", "id"),  # keyset (0013)
    Index("ix_handshakes_target_requested", "target_account_id", "requested_at", "id"),  # keyset (0013)
)

# -- IAM groups, account aliases and properties (migration 0008_groups) ----------------------------

iam_groups = Table(
    "iam_groups",
    metadata,
    Column("id", String(32), primary_key=True),  # AGPA…
    Column("account_id", String(12), ForeignKey("accounts.id"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("name_lower", String(128), nullable=False),
    Column("path", String(512), nullable=False, server_default="/"),
    Column("created_at", BigInteger, nullable=False),
    Index("ux_iam_groups_account_name", "account_id", "name_lower", unique=True),
)

group_policies = Table(
    "group_policies",
    metadata,
    Column("group_id", String(32), ForeignKey("iam_groups.id"), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("document", Text, nullable=False),
)

# A user's membership of a group (AddUserToGroup); AWS: at most 10 groups per user.
group_members = Table(
    "group_members",
    metadata,
    Column("group_id", String(32), ForeignKey("iam_groups.id"), primary_key=True),
    Column("user_id", String(32), ForeignKey("users.id"), primary_key=True),
    Column("added_at", BigInteger, nullable=False),
    # the user's name_lower, copied (AddUserToGroup, UpdateUser): GetGroup's keyset order (0013)
    Column("user_name_lower", String(64), nullable=True),
    Index("ix_group_members_user", "user_id"),
    Index("ix_group_members_group_name", "group_id", "user_name_lower"),
)

# The account alias (one per account, unique across every account: the primary key).
account_aliases = Table(
    "account_aliases",
    metadata,
    Column("alias", String(63), primary_key=True),
    Column("account_id", String(12), ForeignKey("accounts.id"), nullable=False, unique=True),
)

# PutAccountProperties: Namespace/PropertyName → value, per account.
account_properties = Table(
    "account_properties",
    metadata,
    Column("account_id", String(12), ForeignKey("accounts.id"), primary_key=True),
    Column("key", String(50), primary_key=True),
    Column("value", String(1024), nullable=False),
)

# -- Instance profiles, service-linked roles and user credentials (migration 0009_credentials) -----

instance_profiles = Table(
    "instance_profiles",
    metadata,
    Column("id", String(32), primary_key=True),  # AIPA…
    Column("account_id", String(12), ForeignKey("accounts.id"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("name_lower", String(128), nullable=False),
    Column("path", String(512), nullable=False, server_default="/"),
    Column("created_at", BigInteger, nullable=False),
    Index("ux_instance_profiles_account_name", "account_id", "name_lower", unique=True),
)

# The roles in a profile (AWS allows one; the limit is checked under the profile's row lock).
instance_profile_roles = Table(
    "instance_profile_roles",
    metadata,
    Column("profile_id", String(32), ForeignKey("instance_profiles.id"), primary_key=True),
    Column("role_id", String(32), ForeignKey("roles.id"), primary_key=True),
    # the profile's name_lower, copied (AddRoleToInstanceProfile; profiles are never renamed):
    # ListInstanceProfilesForRole's keyset order (0013)
    Column("profile_name_lower", String(64), nullable=True),
    Index("ix_instance_profile_roles_role", "role_id"),
    Index("ix_instance_profile_roles_role_name", "role_id", "profile_name_lower"),
)

# Roles created by CreateServiceLinkedRole (protected: trust policy and deletion only through the
# service-linked role API) and their deletion tasks (kept after the role is gone, for the status).
service_linked_roles = Table(
    "service_linked_roles",
    metadata,
    Column("role_id", String(32), ForeignKey("roles.id"), primary_key=True),
    Column("service_name", String(128), nullable=False),
)

service_linked_role_deletions = Table(
    "service_linked_role_deletions",
    metadata,
    Column("task_id", String(1000), primary_key=True),  # task/aws-service-role/SERVICE/ROLE/UUID
    Column("account_id", String(12), ForeignKey("accounts.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# Console passwords: only a salted scrypt hash; previous hashes (JSON list) for PasswordReusePrevention.
login_profiles = Table(
    "login_profiles",
    metadata,
    Column("user_id", String(32), ForeignKey("users.id"), primary_key=True),
    Column("password_hash", String(256), nullable=False),
    Column("password_reset_required", Integer, nullable=False, server_default="0"),
    Column("previous_hashes", Text, nullable=False, server_default="[]"),
    Column("created_at", BigInteger, nullable=False),
    Column("password_changed_at", BigInteger, nullable=False),
)

# The account password policy (absent: none set, AWS's default rules apply to new passwords).
password_policies = Table(
    "password_policies",
    metadata,
    Column("account_id", String(12), ForeignKey("accounts.id"), primary_key=True),
    Column("minimum_length", Integer, nullable=False),
    Column("require_symbols", Integer, nullable=False),
    Column("require_numbers", Integer, nullable=False),
    Column("require_uppercase", Integer, nullable=False),
    Column("require_lowercase", Integer, nullable=False),
    Column("allow_users_to_change", Integer, nullable=False),
    Column("max_password_age", Integer, nullable=True),
    Column("reuse_prevention", Integer, nullable=True),
    Column("hard_expiry", Integer, nullable=True),
)

ssh_public_keys = Table(
    "ssh_public_keys",
    metadata,
    Column("id", String(32), primary_key=True),  # APKA…
    Column("user_id", String(32), ForeignKey("users.id"), nullable=False),
    Column("body", Text, nullable=False),  # OpenSSH one-line form
    Column("fingerprint", String(64), nullable=False),  # MD5, colon-separated hex
    Column("status", String(16), nullable=False),
    Column("uploaded_at", BigInteger, nullable=False),
    Index("ix_ssh_public_keys_user", "user_id"),
)

# X.509 signing certificates of a user (user_id NULL: the account's root user).
signing_certificates = Table(
    "signing_certificates",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(12), ForeignKey("accounts.id"), nullable=False),
    Column("user_id", String(32), ForeignKey("users.id"), nullable=True),
    Column("body", Text, nullable=False),
    Column("fingerprint", String(64), nullable=False),  # SHA-256 of the DER (duplicate detection)
    Column("status", String(16), nullable=False),
    Column("uploaded_at", BigInteger, nullable=False),
    Index("ix_signing_certificates_user", "user_id"),
)

# Server certificates; the private key only as a SecretCipher ciphertext, never returned.
server_certificates = Table(
    "server_certificates",
    metadata,
    Column("id", String(32), primary_key=True),  # ASCA…
    Column("account_id", String(12), ForeignKey("accounts.id"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("name_lower", String(128), nullable=False),
    Column("path", String(512), nullable=False, server_default="/"),
    Column("body", Text, nullable=False),
    Column("chain", Text, nullable=True),
    Column("key_sealed", LargeBinary, nullable=False),
    Column("expiration", BigInteger, nullable=False),
    Column("uploaded_at", BigInteger, nullable=False),
    Index("ux_server_certificates_account_name", "account_id", "name_lower", unique=True),
)

# Service-specific credentials (CodeCommit, Keyspaces, Bedrock): the password as a salted scrypt hash.
service_specific_credentials = Table(
    "service_specific_credentials",
    metadata,
    Column("id", String(32), primary_key=True),  # ACCA…
    Column("user_id", String(32), ForeignKey("users.id"), nullable=False),
    Column("service_name", String(128), nullable=False),
    Column("service_user_name", String(200), nullable=False),
    Column("password_hash", String(256), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Index("ix_service_specific_credentials_user", "user_id"),
    Index("ix_service_specific_credentials_created", "created_at", "id"),  # AllUsers' keyset (0012)
)

# -- What security teams read; delegation requests (migration 0010_reads) --------------------------

# OIDC providers' trusted identity propagation settings (UpdateOpenIDConnectProvider).
oidc_provider_configs = Table(
    "oidc_provider_configs",
    metadata,
    Column("arn", String(2048), primary_key=True),
    Column("context_provider", Text, nullable=True),  # JSON of the ContextProvider structure
    Column("identity_center_instance_arn", String(1224), nullable=True),
)

# When, where and for which service each access key was last used (GetAccessKeyLastUsed, the
# credential report). Written in batches off the request path (service/iam/last_used.py).
access_key_last_used = Table(
    "access_key_last_used",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("used_at", BigInteger, nullable=False),
    Column("service", String(64), nullable=False),
    Column("region", String(32), nullable=False),
)

# The account's one credential report (GenerateCredentialReport / GetCredentialReport).
credential_reports = Table(
    "credential_reports",
    metadata,
    Column("account_id", String(12), ForeignKey("accounts.id"), primary_key=True),
    Column("started_at", BigInteger, nullable=False),
    Column("generated_at", BigInteger, nullable=True),  # NULL: in progress
    Column("content", LargeBinary, nullable=True),  # the CSV
)

# Access-advisor jobs (GenerateServiceLastAccessedDetails, GenerateOrganizationsAccessReport):
# the result is computed once and kept as JSON, as AWS keeps a job's result for its lifetime.
access_report_jobs = Table(
    "access_report_jobs",
    metadata,
    Column("job_id", String(36), primary_key=True),
    Column("account_id", String(12), nullable=False),
    Column("kind", String(16), nullable=False),  # SERVICE | ORGANIZATIONS
    Column("granularity", String(16), nullable=False),
    Column("target", String(2048), nullable=False),  # the entity ARN or the organization entity path
    Column("created_at", BigInteger, nullable=False),
    Column("completed_at", BigInteger, nullable=False),
    Column("result", Text, nullable=False),
    Index("ix_access_report_jobs_account", "account_id"),
)

# Delegation requests (CreateDelegationRequest … SendDelegationToken, STS GetDelegatedAccessToken).
delegation_requests = Table(
    "delegation_requests",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("requestor_account_id", String(12), nullable=False),
    Column("requestor_workflow_id", String(400), nullable=False),
    Column("owner_account_id", String(12), nullable=True),
    Column("owner_id", String(2048), nullable=True),
    Column("approver_id", String(2048), nullable=True),
    Column("state", String(20), nullable=False),
    Column("document", Text, nullable=False),  # JSON: description, permissions, message, channel …
    Column("notes", Text, nullable=True),
    Column("rejection_reason", Text, nullable=True),
    Column("token_hash", String(64), nullable=True, unique=True),  # sha256 of the exchange token
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Index("ix_delegation_requests_owner", "owner_account_id"),
    Index("ix_delegation_requests_owner_created", "owner_account_id", "created_at", "id"),  # keyset (0013)
    Index("ix_delegation_requests_workflow", "requestor_account_id", "requestor_workflow_id", unique=True),
)
