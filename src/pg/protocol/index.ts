/** The Postgres wire codec: see README.md in this directory for the API and how the proxy uses it. */
export * from './codes.js';
export * from './message-framer.js';
export * from './message-writer.js';
export * from './payload-reader.js';
export * from './startup.js';
export * from './frontend.js';
export * from './backend.js';
export * from './backend-check.js';
export * from './backend-encode.js';
export * from './scram.js';
export * from './upstream.js';
export * from './binary-values.js';
export * from './startup-params.js';
