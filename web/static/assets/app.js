// Progressive enhancement only: every page works without this script.
// A range selector submits itself when a preset is picked.
document.addEventListener("change", function (e) {
  var el = e.target;
  var form = el.closest && el.closest("form[data-autosubmit]");
  if (form && el.name === "days" && el.value !== "custom") {
    form.submit();
  }
});
