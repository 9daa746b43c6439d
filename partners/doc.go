// Package partners owns the partner registry: who each partner country is
// (country code, name), where and how we deliver to it (endpoint, push or
// pull), which CA certificates authenticate its TLS client certificates
// (and its server certificate) and which CRLs revoke them,
// which trust anchors and CRLs verify its document signatures, the
// agreements it exchanges under, and its retry policy.
//
// The registry is a YAML file:
//
//	partners:
//	  - country: SG                 # ISO 3166-1 alpha-2, upper case; unique
//	    name: Singapore Customs     # required
//	    endpoint: https://eco.example.sg/eco/v1  # https; required for push
//	    delivery: push              # push (default) or pull (the partner fetches)
//	    tls:
//	      clientCAs: [sg/tls-ca.pem]            # PEM, one or more certificates; required
//	      crls: [sg/tls-ca.crl]                 # CRLs of the TLS CAs (PEM or DER); optional: a revoked
//	                                            # client or server certificate is refused, a stale CRL fails closed
//	    documentSigning:
//	      anchors: [sg/signing-root.pem]        # PEM; at least one
//	      crls: [sg/signing.crl]                # PEM or DER X.509 CRLs; optional
//	    agreements: [RCEP, ATIGA]   # at least one
//	    retry:                      # optional; defaults shown
//	      attempts: 10              # deliveries tried before the message is suspended
//	      initialInterval: 30s      # Go durations; "d" (days) is accepted too
//	      maxInterval: 1h
//	      multiplier: 2
//	      jitter: 0.2               # randomization factor, 0..1
//	      maxAge: 72h               # suspend when the next try would be later than this after the first
//
// Relative paths resolve against the directory of the YAML file. Unknown
// fields are refused, and every problem found is reported with the
// partner and the field it concerns.
//
// Load reads and validates a file into an immutable *Registry. A Watcher
// keeps the current Registry behind an atomic pointer and reloads it on
// SIGHUP or when the file (or a certificate file it names) changes; an
// invalid new file is logged and the previous registry stays in force.
package partners
