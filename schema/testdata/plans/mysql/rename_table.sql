-- up
RENAME TABLE `posts` TO `articles`;
-- down
RENAME TABLE `articles` TO `posts`;
