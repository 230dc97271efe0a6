-- up
DROP INDEX `posts_status_created_at_idx` ON `posts`;
-- down
CREATE INDEX `posts_status_created_at_idx` ON `posts` (`status`, `created_at`) ALGORITHM=INPLACE LOCK=NONE;
