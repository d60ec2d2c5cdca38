// The most common passwords (a short excerpt in the spirit of Django's CommonPasswordValidator list).
export const COMMON_PASSWORDS = new Set(
  `123456 password 12345678 qwerty 123456789 12345 1234 111111 1234567 dragon 123123 baseball abc123 football
monkey letmein 696969 shadow master 666666 qwertyuiop 123321 mustang 1234567890 michael 654321 pussy superman
1qaz2wsx 7777777 fuckyou 121212 000000 qazwsx 123qwe killer trustno1 jordan jennifer zxcvbnm asdfgh hunter buster
soccer harley batman andrew tigger sunshine iloveyou fuckme 2000 charlie robert thomas hockey ranger daniel
starwars klaster 112233 george asshole computer michelle jessica pepper 1111 zxcvbn 555555 11111111 131313
freedom 777777 pass maggie 159753 aaaaaa ginger princess joshua cheese amanda summer love ashley 6969 nicole
chelsea biteme matthew access yankees 987654321 dallas austin thunder taylor matrix minecraft password1
password123 welcome welcome1 admin admin123 administrator passw0rd p@ssw0rd qwerty123 1q2w3e4r 1q2w3e4r5t
qwe123 zaq12wsx abcd1234 abcdef abcdefg abcdefgh iloveyou1 secret secret123 changeme letmein1 login
trustno1 whatever 123abc q1w2e3r4 q1w2e3r4t5 asdfghjkl 1qazxsw2 football1 baseball1 monkey123 dragon123
sunshine1 princess1 qwertyui 12341234 11223344 00000000 88888888 99999999 987654321 123654789 147258369
police police123 india123 india@123 sairam krishna ganesh naarikavach emergency helpme savelife`.split(/\s+/),
)
