// Small enhancements of the server-rendered pages; every page works without this file.
// No inline code anywhere (CSP).
'use strict';

// After a change the page comes back at the place it was made (`#anchor`): the focus goes
// there too, so keyboard and screen reader users go on where they were.
document.addEventListener('DOMContentLoaded', () => {
  const id = decodeURIComponent(location.hash.slice(1));
  const target = id && document.getElementById(id);
  if (target) {
    if (!target.hasAttribute('tabindex') && !/^(A|BUTTON|INPUT|SELECT|TEXTAREA)$/.test(target.tagName)) target.setAttribute('tabindex', '-1');
    target.focus();
  }
  // A form whose field is in error: its first invalid control gets the focus.
  const invalid = document.querySelector('[aria-invalid="true"]');
  if (invalid) invalid.focus();
});
