// A paragraph's bar opens and closes the list of questions that cited it; a <button> gives
// Enter and Space for free, aria-expanded tells a screen reader whether the list is shown.
for (const button of document.querySelectorAll("button[aria-controls]")) {
  button.addEventListener("click", () => {
    const open = button.getAttribute("aria-expanded") !== "true";
    button.setAttribute("aria-expanded", String(open));
    document.getElementById(button.getAttribute("aria-controls")).hidden = !open;
  });
}
