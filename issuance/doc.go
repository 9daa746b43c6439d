// Package issuance owns the domestic issuance workflow behind the node
// (design.md section 9): the organisations (exporters identified by their
// IEC, issuing agencies with their offices), the people and their roles
// (exporter administrator, applicant, agency administrator, officer, node
// operator), applications and their state machine (state.go, one file),
// cost sheets and origin determination (origin.go, arithmetic shown to the
// officer, never a decision), fees (the e-wallet ledger per exporter and
// office; the payment gateway is an interface that is not wired yet),
// certificate numbering (per agency series, office and year, without gaps)
// and the issue itself, which signs through a Signer and hands the signed
// certificate to the node through the Node interface in the same
// transaction as the application's move to issued.
//
// Roles are checked here, in the domain: every Service method takes the
// Actor who asks and refuses, with an error wrapping ErrForbidden and an
// audit entry, an actor of the wrong role, an inactive one, or one of
// another organisation or office. Handlers (HTTP, portal, CLI) map onto the
// Service methods one to one and add no business rule.
//
// Storage is declared here (Store and Tx, consumer-declared) and
// implemented on bbolt by package store (store.DB.Issuance): one Store.Update
// is one real transaction, so the checks, the state change, the fee, the
// certificate number, the node's register-and-queue and the audit entries
// commit together or not at all. Time comes from Config.Clock.
//
// Amounts (fees, wallet balances, FOB and cost-sheet values) are integers
// in minor units of their currency (paise for INR), never floats.
package issuance
