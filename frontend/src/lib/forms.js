// Form helpers: a control whose value the API refused is marked invalid and points at
// the message shown next to it (FieldError).

// invalid is the attributes of a control refused with message (none when it is not).
export const invalid = (id, message) => (message ? { 'aria-invalid': 'true', 'aria-describedby': id } : {});
