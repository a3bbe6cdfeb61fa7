/// Drops the repeated prefix when a continuation route starts its answer by
/// repeating the partial answer it was asked to continue.
///
/// Text is held back while it still matches the start of the partial answer.
/// Once it covers the whole partial answer, only what follows is released;
/// once it differs, everything held is released, since the route did not
/// repeat the partial answer. At most the partial answer's length plus one
/// piece is held.
#[derive(Debug)]
pub(crate) struct OverlapFilter {
    partial: String,
    held: String,
    done: bool,
}

impl OverlapFilter {
    pub(crate) fn new(partial: String) -> Self {
        let done = partial.is_empty();
        Self {
            partial,
            held: String::new(),
            done,
        }
    }

    /// Takes the next piece of text and returns what may be sent now.
    pub(crate) fn push(&mut self, text: String) -> Option<String> {
        if self.done {
            return Some(text);
        }
        self.held.push_str(&text);
        if self.partial.starts_with(self.held.as_str()) {
            if self.held.len() == self.partial.len() {
                self.done = true;
                self.held.clear();
            }
            return None;
        }
        self.done = true;
        let held = std::mem::take(&mut self.held);
        match held.strip_prefix(self.partial.as_str()) {
            Some("") => None,
            Some(rest) => Some(rest.to_owned()),
            None => Some(held),
        }
    }

    /// Ends the text. Text still held is a repetition of part of the partial
    /// answer, so it is dropped.
    pub(crate) fn finish(&mut self) {
        self.done = true;
        self.held.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(partial: &str, pieces: &[&str]) -> String {
        let mut filter = OverlapFilter::new(partial.to_owned());
        let mut out = String::new();
        for piece in pieces {
            if let Some(text) = filter.push((*piece).to_owned()) {
                out.push_str(&text);
            }
        }
        filter.finish();
        out
    }

    #[test]
    fn strips_repeated_prefix() {
        assert_eq!(run("One two", &["One", " two", " three."]), " three.");
    }

    #[test]
    fn strips_prefix_inside_one_piece() {
        assert_eq!(run("One two", &["One two three", "."]), " three.");
    }

    #[test]
    fn keeps_text_that_does_not_repeat() {
        assert_eq!(run("One two", &[" three", "."]), " three.");
    }

    #[test]
    fn releases_held_text_on_divergence() {
        assert_eq!(run("One two", &["One", " four"]), "One four");
    }

    #[test]
    fn empty_partial_passes_through() {
        assert_eq!(run("", &["a", "b"]), "ab");
    }
}
