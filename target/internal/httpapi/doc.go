// Package httpapi is the HTTP layer of the reference flag server: routing,
// request validation, authentication of writes, the PATCH body decoder,
// error mapping and the server's own HTTP metrics. It talks to the domain
// only through the narrow [Service] interface, implemented by *flags.Service.
//
// # Routes
//
//	GET   /api/config/flags?environment=E                       all flags of E (flags.List JSON)
//	GET   /api/config/flags/{key}?environment=E                 one flag
//	GET   /api/config/flags/{key}/evaluate?environment=E&userId=U
//	PATCH /api/config/flags/{key}?environment=E                 Authorization: Bearer <token>, optional If-Match: "<version>"
//	GET   /healthz                                              {"status":"ok"}
//	GET   /readyz                                               200 ready / 503 unready (the database decides)
//	GET   /metrics                                              Prometheus exposition (when a Gatherer is configured)
//
// GET routes answer HEAD too. Flag routes set Cache-Control: no-store and,
// whenever the service says where the data came from, X-Flag-Source
// (redis, db, db-fallback, memory, stale); a successful PATCH reports db,
// since the answer is the row the database committed.
//
// # Errors
//
// Every error, including the router's own 404 and 405, is JSON:
//
//	{"error": "human-readable message", "code": "STABLE_CODE", "field": "rolloutPercentage"}
//
// field is present when one query parameter, header or body field is to
// blame. Clients should branch on code, never on the message. The codes:
//
//	| status | code                   | when                                                                        |
//	|--------|------------------------|-----------------------------------------------------------------------------|
//	| 400    | MISSING_ENVIRONMENT    | the environment query parameter is absent or empty                          |
//	| 400    | INVALID_ENVIRONMENT    | environment is not a well-formed name (flags.ValidEnvironment)              |
//	| 400    | UNKNOWN_ENVIRONMENT    | environment is well formed but this server does not serve it               |
//	| 400    | INVALID_KEY            | the {key} path segment is not a well-formed flag key (flags.ValidKey)       |
//	| 400    | MISSING_USER_ID        | evaluate without the userId query parameter                                 |
//	| 400    | INVALID_USER_ID        | userId is not well formed (flags.ValidUserID)                               |
//	| 400    | INVALID_HEADER         | If-Match is not * or one strong entity tag "<version>" (field: If-Match)    |
//	| 400    | INVALID_BODY           | the PATCH body is empty, not one JSON object, has trailing data, or sets    |
//	|        |                        | no field                                                                    |
//	| 400    | INVALID_FIELD          | a body field is unknown, repeated, null, of the wrong type or out of range  |
//	| 400    | BAD_REQUEST            | the router rejected the request line itself (e.g. OPTIONS *)               |
//	| 401    | UNAUTHORIZED           | PATCH without a valid bearer token, or no admin token is configured;        |
//	|        |                        | sent with WWW-Authenticate: Bearer                                          |
//	| 404    | FLAG_NOT_FOUND         | the flag does not exist in that environment                                 |
//	| 404    | NOT_FOUND              | no such route (also /metrics when no Gatherer is configured)                |
//	| 405    | METHOD_NOT_ALLOWED     | the route exists but not for this method; the Allow header lists methods    |
//	| 412    | VERSION_CONFLICT       | If-Match named a version that is no longer current                          |
//	| 413    | BODY_TOO_LARGE         | the PATCH body is larger than MaxBodyBytes (64 KiB)                         |
//	| 415    | UNSUPPORTED_MEDIA_TYPE | the PATCH Content-Type is present and not application/json (UTF-8)          |
//	| 500    | INTERNAL               | an unexpected server-side failure; details are logged, never sent           |
//	| 503    | UNAVAILABLE            | no backend could answer (flags.ErrUnavailable) or one timed out; retry     |
//
// Validation happens before the service is called, so a malformed key or
// environment can never reach a cache key.
//
// # Metrics
//
// With a Registerer: flagserver_http_requests_total{route,method,code},
// flagserver_http_request_duration_seconds{route,method} and
// flagserver_http_requests_in_flight. route is the matched mux pattern
// (r.Pattern, e.g. "GET /api/config/flags/{key}") or "unmatched"; method is
// one of the standard methods or "OTHER", so clients cannot create series.
package httpapi
