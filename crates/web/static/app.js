// Progressive enhancement only: every page works without this script.
// Forms marked data-confirm ask before submitting (removing a family member, cancelling).
document.addEventListener('submit', (ev) => {
  const form = ev.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm) {
    if (!window.confirm(form.dataset.confirm)) ev.preventDefault();
  }
});
