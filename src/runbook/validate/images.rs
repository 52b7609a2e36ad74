//! The problems of `images:`: how daily-check asks the registries.

use super::Validator;

impl Validator<'_> {
    /// `images:`: `interval` and `newer` say how to check, so without
    /// `check: true` they do nothing; an interval of 0 would ask every time.
    pub(super) fn images(&mut self) {
        let Some(images) = &self.model.images else {
            return;
        };
        if !images.check && (images.interval.is_some() || images.newer.is_some()) {
            self.at_key(
                "images",
                "`interval` and `newer` say how daily-check asks the registries: add `check: true`",
            );
        }
        if images.keep == Some(0) {
            self.at_key(
                "images.keep",
                "`images prune` keeps each service's running image at least: give 1 or more (2 keeps one to roll back to)",
            );
        }
        if images.interval.is_some_and(|i| i.std().is_zero()) {
            self.at_key(
                "images.interval",
                "an interval of 0 would ask every registry on every run: give one like `6h`",
            );
        }
    }
}
